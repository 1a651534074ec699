"""One ``fetalviewer batch`` run: list the sources, start an engine, stream results into part files, then
write the per-study table, the problems list and the summary page.

Finished instances are buffered and written as one part file every :attr:`BatchConfig.part_frames` rows
or :data:`PART_INTERVAL_S` seconds (and at the end, and on Ctrl-C), so a crash loses at most that much
work and a rerun redoes exactly the instances not in a part (:mod:`fetalviewer.batch.store`).
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fetalviewer.atomic import atomic_path, write_bytes_atomic, write_text_atomic
from fetalviewer.batch.engines import make_engine
from fetalviewer.batch.sources import NodeQuery, list_sources, retrieve_node_sources
from fetalviewer.batch.store import OutputDir
from fetalviewer.batch.worker import FileResult, FileTask, ModelSpec
from fetalviewer.errors import UsageError

PART_INTERVAL_S = 60.0
RUNS_FILE = "runs.json"


@dataclass(frozen=True)
class BatchConfig:
    sources: tuple[str, ...]
    out: str
    spec: ModelSpec = ModelSpec()
    step: int = 1
    engine: str = "local"
    ray_address: str | None = None
    workers: int | None = None
    threshold_0_1: float = 0.5
    part_frames: int = 20000
    node_query: NodeQuery = NodeQuery()

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))
        if not self.sources:
            raise ValueError("sources: give at least one SOURCE")
        if not isinstance(self.step, int) or self.step < 1:
            raise ValueError(f"--step must be 1 or more, got {self.step!r}")
        if not 0.0 <= self.threshold_0_1 <= 1.0:
            raise ValueError(f"--threshold must lie in 0..1, got {self.threshold_0_1}")
        if not isinstance(self.part_frames, int) or self.part_frames < 1:
            raise ValueError(f"--part-frames must be 1 or more, got {self.part_frames!r}")
        if self.engine != "ray" and (self.ray_address or self.workers not in (None, 1)):
            raise ValueError("--ray-address and --workers need --engine ray")


@dataclass
class BatchReport:
    """What a run did (also appended to ``runs.json`` in the output folder)."""

    engine: str
    workers: int = 0
    device: str = ""
    files: int = 0
    frames: int = 0
    skipped_files: int = 0
    problems: int = 0
    seconds: float = 0.0
    model_load_s: float = 0.0
    status: str = "running"
    samples: list[tuple[float, float]] = field(default_factory=list)

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def summary_line(self, out: str | Path) -> str:
        """The one-line account of the run (the command line prints it; the window shows it)."""
        return (
            f"{self.files} files, {self.frames} frames analysed in {self.seconds:.1f} s "
            f"({self.frames_per_s:.2f} frames/s, {self.workers} {self.engine} worker(s) on {self.device}, "
            f"model load {self.model_load_s:.1f} s); {self.skipped_files} files already done; "
            f"{self.problems} problem(s) listed in {Path(out) / 'problems.csv'}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_utc": getattr(self, "started_utc", ""),
            "engine": self.engine,
            "workers": self.workers,
            "device": self.device,
            "files": self.files,
            "frames": self.frames,
            "skipped_files": self.skipped_files,
            "problems": self.problems,
            "seconds": round(self.seconds, 3),
            "model_load_s": round(self.model_load_s, 3),
            "frames_per_s": round(self.frames_per_s, 3),
            "status": self.status,
            "samples": [[round(t, 2), round(v, 3)] for t, v in self.samples],
        }


class Progress:
    """The terminal line: files, frames, frames/s and ETA (a line every 10 s when not a terminal)."""

    def __init__(self, total_files: int, total_frames: int | None, say: Callable[[str, bool], None]) -> None:
        self.total_files, self.total_frames = total_files, total_frames
        self.say = say
        self.start = time.monotonic()
        self.files = self.frames = 0
        self._last = 0.0
        self.samples: list[tuple[float, float]] = []
        self._window: list[tuple[float, int]] = [(0.0, 0)]

    def add(self, result: FileResult | None) -> None:
        if result is not None:
            self.files += 1
            self.frames += result.n_rows
        self.tick()

    def rate(self) -> float:
        now = time.monotonic() - self.start
        return self.frames / now if now > 0 else 0.0

    def tick(self, force: bool = False) -> None:
        now = time.monotonic() - self.start
        if not force and now - self._last < 1.0:
            return
        self._last = now
        self._window.append((now, self.frames))
        t0, f0 = self._window[max(0, len(self._window) - 10)]
        recent = (self.frames - f0) / (now - t0) if now > t0 else 0.0
        self.samples.append((now, recent))
        rate = self.rate()
        eta = "?"
        if self.total_frames is not None and rate > 0:
            eta = _hms(max(0, self.total_frames - self.frames) / rate)
        elif self.files and self.total_files:
            eta = _hms(now / self.files * (self.total_files - self.files))
        total = "?" if self.total_frames is None else str(self.total_frames)
        self.say(
            f"{self.files}/{self.total_files} files, {self.frames}/{total} frames, "
            f"{recent:.1f} frames/s, ETA {eta}",
            True,
        )


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def default_say(text: str, transient: bool = False) -> None:
    stream = sys.stderr
    if stream is None:
        return
    if stream.isatty():
        print(f"\r{text[:118]:<118}", end="" if transient else "\n", file=stream, flush=True)
    elif not transient or int(time.monotonic()) % 10 == 0:
        print(text, file=stream, flush=True)


class BatchStopped(KeyboardInterrupt):
    """The caller's ``stop`` asked the run to end (the window's Cancel); finished work is saved."""


def run_batch(
    config: BatchConfig,
    say: Callable[[str, bool], None] = default_say,
    stop: Callable[[], bool] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> BatchReport:
    """Run (see the module docstring). Raises KeyboardInterrupt after saving finished work on Ctrl-C,
    and :class:`BatchStopped` (a KeyboardInterrupt) the same way once ``stop()`` returns True (checked
    after every file). ``on_progress`` sees the :class:`Progress` after every file."""
    report = BatchReport(engine=config.engine)
    report.started_utc = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # type: ignore[attr-defined]
    with OutputDir(config.out) as out:
        sources, problems = retrieve_node_sources(config.sources, config.node_query, say)
        listing = list_sources(sources, out.done())
        report.skipped_files = listing.n_done_files
        problems += listing.problems
        engine = make_engine(config.engine, config.spec, config.step, config.ray_address, config.workers)
        say(f"starting the {config.engine} engine and loading the model...", False)
        t_load = time.perf_counter()
        try:
            try:
                engine.start()
            except ValueError as exc:  # e.g. --device cuda on a machine without a GPU
                raise UsageError(str(exc)) from exc
            report.model_load_s = time.perf_counter() - t_load
            report.workers, report.device = engine.n_workers, engine.device
            out.check_manifest(engine.model_name, engine.weights_sha256, config.step)
            model_line = f"{engine.model_name} (weights sha256 {engine.weights_sha256[:12]}...)"
            say(
                f"{len(listing.todo)} files to analyse ({listing.n_done_files} already done), "
                f"{engine.n_workers} worker(s) on {engine.device}, model {engine.model_name}",
                False,
            )
            tasks = [FileTask(c.path, c.fingerprint) for c in listing.todo]
            progress = Progress(len(tasks), listing.frames_todo(config.step), say)
            buffer: list[FileResult] = []
            buffered_rows, last_flush = 0, time.monotonic()

            def flush() -> None:
                nonlocal buffered_rows, last_flush
                out.write_part(buffer, engine.model_name, engine.weights_sha256)
                buffer.clear()
                buffered_rows, last_flush = 0, time.monotonic()

            try:
                for result in engine.results(tasks):
                    progress.add(result)
                    if on_progress is not None:
                        on_progress(progress)
                    if result is None:
                        if stop is not None and stop():
                            raise BatchStopped
                        continue
                    if result.problem:
                        problems.append((result.path, result.problem_kind or "unreadable", result.problem))
                    if result.done:
                        buffer.append(result)
                        buffered_rows += result.n_rows
                        report.files += 1
                        report.frames += result.n_rows
                    if buffered_rows >= config.part_frames or time.monotonic() - last_flush > PART_INTERVAL_S:
                        flush()
                    if stop is not None and stop():
                        raise BatchStopped
                flush()
                report.status = "complete"
            except KeyboardInterrupt as exc:
                flush()
                report.status = "stopped (cancelled)" if isinstance(exc, BatchStopped) else "stopped (Ctrl-C)"
                raise
            finally:
                progress.tick(force=True)
                say("", False)
                report.seconds = time.monotonic() - progress.start
                report.samples = progress.samples
                report.problems = len(problems)
        finally:
            engine.close()
            if report.status != "running":
                _append_run(out.path, report)
        write_outputs(out, problems, config.threshold_0_1, model_line)
    return report


def _append_run(folder: Path, report: BatchReport) -> None:
    path = folder / RUNS_FILE
    try:
        runs = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        runs = []
    runs.append(report.to_dict())
    write_text_atomic(path, json.dumps(runs, indent=1))


def read_runs(folder: Path) -> list[dict[str, Any]]:
    try:
        return json.loads((Path(folder) / RUNS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []


def _csv_bytes(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue().encode("utf-8")


def write_outputs(
    out: OutputDir, problems: list[tuple[str, str, str]], threshold_0_1: float, model_line: str
) -> None:
    """studies.parquet/.csv, problems.csv and summary.html from every part in the folder."""
    import pyarrow.parquet as pq

    from fetalviewer.batch import studies, summary

    frames = out.read_frames(studies.NEEDED_COLUMNS)
    table = studies.study_table(frames, threshold_0_1)
    arrow = studies.to_arrow(table)
    with atomic_path(out.path / "studies.parquet") as tmp:
        pq.write_table(arrow, tmp)
    cols = studies.study_columns()
    rows = list(zip(*[table[c] for c in cols], strict=True)) if table[cols[0]] else []
    write_bytes_atomic(out.path / "studies.csv", _csv_bytes(cols, rows))
    problems = sorted(set(problems))
    write_bytes_atomic(out.path / "problems.csv", _csv_bytes(["path", "kind", "reason"], problems))
    discordance = studies.ga_discordance_days(frames, table)
    kinds = Counter(kind for _, kind, _ in problems)
    page = summary.render(
        table,
        discordance,
        frames.num_rows,
        len({p for p, _, _ in problems}),
        dict(kinds),
        read_runs(out.path),
        threshold_0_1,
        model_line,
    )
    write_text_atomic(out.path / "summary.html", page)
