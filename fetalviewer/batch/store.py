"""The output folder of ``fetalviewer batch``: atomic part files, what is done, and resume.

* ``frames-<run>-<n>.parquet``: part files of the frames table (:mod:`fetalviewer.batch.schema`). Each part
  holds whole instances only, and lists them in its Arrow schema metadata (key ``fetalviewer.batch``:
  SOP Instance UID, file fingerprint, path, rows, and the problem of frames that could not be decoded, so a
  rerun lists it again). A part is written to a temporary file, synced and
  renamed (:func:`fetalviewer.atomic.atomic_path`): a run killed at any point leaves whole parts or none.
* ``batch.json``: the model (name, weights sha256) and ``--step`` of the folder. A rerun with another
  model or step is refused rather than mixing two analyses in one table.
* ``batch.lock``: an advisory lock (``fcntl.flock``) held while a run writes; the operating system drops
  it when the process dies, even by ``kill -9``, so a second concurrent run is refused and a killed one
  never blocks the next.

An instance is done when a part lists it under the same file fingerprint
(:func:`fetalviewer.workspace.cache.file_fingerprint`: size, mtime and SHA-256 of the first and last
MiB) and the folder's model; a rerun skips done files and analyses the others, so every frame ends up in
the table exactly once. The same fingerprint at another path is the same content and is not analysed
twice.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fetalviewer.atomic import atomic_path, write_text_atomic
from fetalviewer.errors import FetalViewerError

PART_GLOB = "frames-*.parquet"
MANIFEST = "batch.json"
LOCK = "batch.lock"
META_KEY = b"fetalviewer.batch"
FORMAT = 1


class OutputRefused(FetalViewerError):
    """The output folder cannot take this run (in use, or holds another model's or step's results)."""


@dataclass(frozen=True)
class DoneInstance:
    """One instance already in a part file."""

    sop_instance_uid: str
    fingerprint: str
    source_path: str
    n_rows: int
    part: str
    problem: str | None = None  # e.g. frames that could not be decoded (the others are in the part)
    problem_kind: str | None = None


class OutputDir:
    """See the module docstring. Use as a context manager: the lock is held inside it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise OutputRefused(f"{self.path}: --out must be a folder")
        self._lock_fd: int | None = None
        # Unique per run, also for two runs of one process within a second (the window's Start after
        # Cancel): a name shared with an earlier run's part would replace that part and lose its frames.
        self._run_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._seq = 0

    # ------------------------------------------------------------------------------------ lock
    def __enter__(self) -> OutputDir:
        import fcntl

        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputRefused(f"{self.path}: cannot create the output folder ({exc})") from exc
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise OutputRefused(f"{self.path}: another 'fetalviewer batch' is writing here") from exc
        self._lock_fd = fd
        for stale in self.path.glob(".*.tmp"):  # temporaries of a killed run (we hold the lock)
            stale.unlink(missing_ok=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None

    # -------------------------------------------------------------------------------- manifest
    def check_manifest(self, model_name: str, weights_sha256: str, step: int) -> None:
        """Record the run's model and step, or refuse when the folder holds another's results."""
        wanted = {"format": FORMAT, "model_name": model_name, "weights_sha256": weights_sha256, "step": step}
        path = self.path / MANIFEST
        if path.exists():
            try:
                have = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise OutputRefused(f"{path}: unreadable ({exc}); use another --out folder") from exc
            if self.part_paths():
                for key in ("model_name", "weights_sha256", "step"):
                    if have.get(key) != wanted[key]:
                        raise OutputRefused(
                            f"{self.path} holds results of {key} {have.get(key)!r}, this run has "
                            f"{wanted[key]!r}; use another --out folder"
                        )
        write_text_atomic(path, json.dumps(wanted, indent=2))

    # ----------------------------------------------------------------------------------- parts
    def part_paths(self) -> list[Path]:
        return sorted(self.path.glob(PART_GLOB))

    def done(self) -> dict[str, DoneInstance]:
        """Done instances by file fingerprint (read from the parts' metadata, not their rows)."""
        import pyarrow.parquet as pq

        found: dict[str, DoneInstance] = {}
        for part in self.part_paths():
            try:
                meta = pq.read_schema(part).metadata or {}
                entries = json.loads(meta[META_KEY])["instances"]
            except (OSError, KeyError, ValueError) as exc:
                raise OutputRefused(f"{part}: not a part file of fetalviewer batch ({exc})") from exc
            for sop, fingerprint, source, rows, *problem in entries:
                kind, text = (problem + [None, None])[:2] if problem else (None, None)
                found[fingerprint] = DoneInstance(sop, fingerprint, source, int(rows), part.name, text, kind)
        return found

    def write_part(self, results: Iterable[Any], model_name: str, weights_sha256: str) -> Path | None:
        """Write the rows of done :class:`~fetalviewer.batch.worker.FileResult` s as one part, atomically."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from fetalviewer.batch import schema

        results = [r for r in results if r.done]
        if not results:
            return None
        tables = [schema.to_table(r.columns) for r in results]
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        meta = {
            "model_name": model_name,
            "weights_sha256": weights_sha256,
            "instances": [
                [r.sop_instance_uid, r.fingerprint, r.path, r.n_rows, r.problem_kind, r.problem]
                for r in results
            ],
        }
        table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode("utf-8")})
        self._seq += 1
        target = self.path / f"frames-{self._run_id}-{self._seq:05d}.parquet"
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as fh:
                pq.write_table(table, fh, compression="zstd")
                fh.flush()
                os.fsync(fh.fileno())
        return target

    def read_frames(self, columns: list[str] | None = None):
        """All part files as one Arrow table (empty table with the schema when there is none)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from fetalviewer.batch import schema

        parts = self.part_paths()
        if not parts:
            empty = schema.frames_schema().empty_table()
            return empty.select(columns) if columns else empty
        tables = [pq.read_table(p, columns=columns) for p in parts]
        return pa.concat_tables(tables).replace_schema_metadata(None)
