"""Run mutants through the commands in-process and check the invariants of hostile input.

For every command: the exit status is 0 or 2; a 2 names the file; the crash handler is never reached
(``fetalviewer.cli._internal`` is watched); no traceback is printed; a command that fails leaves no
output behind, and none leaves a staging folder or temporary file. A de-identified copy is read back
and searched for the identifiers of the pristine seed and of the mutant (the project's leak check).
The SR reader (``ObGynSR.from_file``) returns or raises a FetalViewerError naming the file.
``scp-net`` sends the mutant to a real ``fetalviewer receive`` over a DIMSE association
(:mod:`tests.fuzz.scp_net`); ``send`` does the same through ``fetalviewer send`` (exit 0 stored, 2 refused
with the file named; the SCP stays up and its archive consistent). The harness starts that SCP on first
use and :meth:`Harness.close` stops it.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import traceback
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tests.fuzz.mutate import Mutant

if TYPE_CHECKING:
    from tests.fuzz.scp_net import NetTarget

COMMANDS = ("info", "frame", "deidentify", "sr", "analyze", "report", "report-deid", "scp", "scp-net", "send")
#: the slower targets, run on every ``--every``-th mutant by tools/fuzz.py
SLOW_COMMANDS = ("analyze", "report", "report-deid")
#: the node name ``send`` uses for the harness's SCP
SEND_NODE = "FUZZSCP"


@dataclass
class Outcome:
    command: str
    code: int | None
    message: str = ""


@dataclass
class Failure:
    mutant: Mutant
    command: str
    problem: str
    output: str = ""

    def __str__(self) -> str:
        tail = self.output.strip().splitlines()[-3:]
        return f"{self.mutant.describe()} | {self.command}: {self.problem} | {' / '.join(tail)[:400]}"


@dataclass
class Harness:
    """Reusable runner: ``work`` is a scratch folder; ``weights``/``config`` a tiny model for analyze."""

    work: Path
    weights: Path | None = None
    config: Path | None = None
    internal_errors: list[str] = field(default_factory=list)
    _net: NetTarget | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.work = Path(self.work)
        self.work.mkdir(parents=True, exist_ok=True)

    def net_target(self) -> NetTarget:
        """The ``fetalviewer receive`` child of this run, started on first use."""
        if self._net is None:
            from tests.fuzz.scp_net import NetTarget

            self._net = NetTarget(self.work / "scp-net").start()
        return self._net

    def net_statuses(self) -> dict[str, int]:
        """How often the SCP answered each C-STORE status so far (``no reply`` included)."""
        return dict(self._net.statuses) if self._net is not None else {}

    def close(self) -> None:
        """Stop the SCP child, if one was started (call it in a ``finally``)."""
        if self._net is not None:
            self._net.stop()
            self._net = None

    def hostile_associations(self, names: Iterable[str] | None = None) -> list[str]:
        """The whole-association cases of :mod:`tests.fuzz.scp_hostile`; the problems found."""
        from tests.fuzz.scp_hostile import CASES, run_case

        target = self.net_target()
        return [p for name in (names or CASES) for p in run_case(target, name)]

    # ------------------------------------------------------------------ running
    @contextlib.contextmanager
    def _watch_crash_handler(self):
        import fetalviewer.cli as cli

        real = cli._internal

        def record(name, exc):
            self.internal_errors.append(
                f"{name}: {type(exc).__name__}: {exc}\n"
                + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-3000:]
            )
            return cli.EXIT_INTERNAL

        cli._internal = record
        try:
            yield
        finally:
            cli._internal = real

    def _main(self, argv: list[str]) -> tuple[int | None, str]:
        from fetalviewer.cli import main

        out, err = io.StringIO(), io.StringIO()
        before = len(self.internal_errors)
        with self._watch_crash_handler(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    code = main(argv)
                except SystemExit as exc:  # argparse
                    code = exc.code if isinstance(exc.code, int) else 2
                except BaseException as exc:  # noqa: BLE001 - escaped the command's own handling
                    self.internal_errors.append(
                        f"escaped main: {type(exc).__name__}: {exc}\n{traceback.format_exc()[-3000:]}"
                    )
                    code = None
        text = out.getvalue() + err.getvalue()
        if len(self.internal_errors) > before:
            text += "\n[crash handler] " + self.internal_errors[-1]
        return code, text

    def check(
        self, mutant: Mutant, commands: Iterable[str] = ("info", "frame", "deidentify", "sr")
    ) -> list[Failure]:
        """Every invariant for ``mutant`` through ``commands``; the failures found (empty: all held)."""
        folder = self.work / f"m{mutant.seed}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        path = folder / mutant.name
        path.write_bytes(mutant.data)
        failures: list[Failure] = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom warns about every damaged value, on purpose here
                for command in commands:
                    failures += getattr(self, f"_run_{command.replace('-', '_')}")(mutant, path, folder)
            leftovers = [p for p in folder.rglob("*") if _is_temporary(p)]
            if leftovers:
                failures.append(Failure(mutant, "all", f"temporary files left: {leftovers[:3]}"))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return failures

    def _judge(self, mutant: Mutant, command: str, code: int | None, text: str, path: Path) -> list[Failure]:
        failures = []
        if "[crash handler]" in text or code is None:
            failures.append(Failure(mutant, command, "reached the crash handler", text))
        elif code not in (0, 2):
            failures.append(Failure(mutant, command, f"exit status {code} (expected 0 or 2)", text))
        elif code == 2 and path.name not in text:
            failures.append(Failure(mutant, command, "exit 2 without naming the file", text))
        if "Traceback (most recent call last)" in text.split("[crash handler]")[0]:
            failures.append(Failure(mutant, command, "printed a traceback", text))
        if "MemoryError" in text or "not enough memory" in text:
            failures.append(Failure(mutant, command, "a header claim reached an allocation", text))
        return failures

    def _run_info(self, mutant: Mutant, path: Path, folder: Path) -> list[Failure]:
        code, text = self._main(["info", str(path)])
        return self._judge(mutant, "info", code, text, path)

    def _run_frame(self, mutant: Mutant, path: Path, folder: Path) -> list[Failure]:
        failures = []
        for index in (0, 1):
            out = folder / f"frame{index}.png"
            code, text = self._main(["frame", str(path), "--index", str(index), "--out", str(out)])
            failures += self._judge(mutant, "frame", code, text, path)
            if code != 0 and out.exists():
                failures.append(Failure(mutant, "frame", "failed but left a PNG", text))
            if code == 0:
                failures += _png_reads_back(mutant, out, text)
        return failures

    def _run_deidentify(self, mutant: Mutant, path: Path, folder: Path) -> list[Failure]:
        out = folder / "deid"
        code, text = self._main(["deidentify", str(path), "--out", str(out)])
        failures = self._judge(mutant, "deidentify", code, text, path)
        written = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
        if code != 0 and written:
            failures.append(Failure(mutant, "deidentify", f"failed but left {len(written)} file(s)", text))
        if code == 0:
            failures += _leak_check(mutant, written, text)
        return failures

    def _run_sr(self, mutant: Mutant, path: Path, folder: Path) -> list[Failure]:
        from fetalviewer.errors import FetalViewerError
        from fetalviewer.report.sr import ObGynSR

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ObGynSR.from_file(path)
        except FetalViewerError as exc:
            if path.name not in str(exc):
                return [Failure(mutant, "sr", "error without the file name", str(exc))]
        except Exception as exc:  # noqa: BLE001 - that is the finding
            return [
                Failure(mutant, "sr", f"{type(exc).__name__} escaped the SR reader", traceback.format_exc())
            ]
        return []

    def _run_analyze(self, mutant: Mutant, path: Path, folder: Path) -> list[Failure]:
        out = folder / "analysis.json"
        argv = ["analyze", str(path), "--json", str(out), "--device", "cpu"]
        if self.weights is not None:
            argv += ["--weights", str(self.weights)]
        if self.config is not None:
            argv += ["--config", str(self.config)]
        code, text = self._main(argv)
        failures = self._judge(mutant, "analyze", code, text, path)
        if out.exists():  # written atomically, also when it only lists the problems: it must be whole
            import json

            try:
                json.loads(out.read_text(encoding="utf-8"))
            except ValueError as exc:
                failures.append(Failure(mutant, "analyze", f"its JSON does not parse ({exc})", text))
        return failures

    def _run_report(self, mutant: Mutant, path: Path, folder: Path) -> list[Failure]:
        out = folder / "report"
        argv = ["report", str(path), "--out", str(out), "--formats", "sr,sc,json,mp4,png", "--no-cache"]
        code, text = self._main(argv)
        failures = self._judge(mutant, "report", code, text, path)
        written = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
        if code != 0 and written:
            failures.append(Failure(mutant, "report", f"failed but left {len(written)} file(s)", text))
        return failures

    def _run_report_deid(self, mutant: Mutant, path: Path, folder: Path) -> list[Failure]:
        """``report --deidentify``: the DICOM it writes (copies, SR, SC) must pass the leak check."""
        out = folder / "report-deid"
        argv = ["report", str(path), "--out", str(out), "--deidentify", "--formats", "dicom,sr,sc,json", "--no-cache"]
        code, text = self._main(argv)
        failures = self._judge(mutant, "report-deid", code, text, path)
        written = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
        if code != 0 and written:
            failures.append(Failure(mutant, "report-deid", f"failed but left {len(written)} file(s)", text))
        if code == 0:
            failures += _leak_check(mutant, [p for p in written if p.suffix == ".dcm"], text, "report-deid")
        return failures

    def _run_scp(self, mutant: Mutant, path: Path, folder: Path) -> list[Failure]:
        """The Storage SCP's check of a received dataset (``fetalviewer.net.validate.validate_received``,
        which runs ``check_dataset``): it accepts or refuses with a FetalViewerError, nothing else."""
        import pydicom

        from fetalviewer.errors import FetalViewerError
        from fetalviewer.net.validate import validate_received as check_dataset

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, force=True)
        except Exception:  # noqa: BLE001 - the association layer would not have parsed it either
            return []
        try:
            check_dataset(ds, str(path))
        except FetalViewerError as exc:
            if path.name not in str(exc):
                return [Failure(mutant, "scp", "refusal without the source", str(exc))]
        except Exception as exc:  # noqa: BLE001
            return [
                Failure(mutant, "scp", f"{type(exc).__name__} escaped the SCP check", traceback.format_exc())
            ]
        return []

    def _run_scp_net(self, mutant: Mutant, path: Path, folder: Path) -> list[Failure]:
        """The mutant's data set bytes over a real association to ``fetalviewer receive``."""
        target = self.net_target()
        return [Failure(mutant, "scp-net", problem, target.scp.tail(4)) for problem in target.check(mutant)]

    def _run_send(self, mutant: Mutant, path: Path, folder: Path) -> list[Failure]:
        """``fetalviewer send`` of the mutant file to the harness's SCP, as a user would send it."""
        from fetalviewer.net.nodes import Node, NodeStore
        from fetalviewer.settings import load_settings, update_settings
        from tests.fuzz.scp_process import CALLER_AET, SCP_AET

        target = self.net_target()
        store = NodeStore()  # in this run's FETALVIEWER_HOME (each test has its own)
        if SEND_NODE not in store.load():
            store.add(Node(SEND_NODE, aet=SCP_AET, host="127.0.0.1", port=target.scp.port))
        if load_settings().get("local_aet") != CALLER_AET:
            update_settings(local_aet=CALLER_AET)
        known = set(target.consistency_problems(target.snapshot()))
        code, text = self._main(["send", SEND_NODE, str(path)])
        failures = self._judge(mutant, "send", code, text, path)
        problems = target.alive_problems()
        problems += [p for p in target.consistency_problems(target.snapshot()) if p not in known]
        return failures + [Failure(mutant, "send", problem, target.scp.tail(4)) for problem in problems]


def _is_temporary(path: Path) -> bool:
    name = path.name
    return (
        name.startswith(".fetalviewer-export-") or name.endswith((".tmp", ".part")) or name.startswith(".tmp")
    )


def _png_reads_back(mutant: Mutant, out: Path, text: str) -> list[Failure]:
    from PIL import Image

    try:
        with Image.open(out) as image:
            image.load()
    except Exception as exc:  # noqa: BLE001
        return [Failure(mutant, "frame", f"written PNG does not read back ({exc})", text)]
    return []


def _leak_check(mutant: Mutant, written: list[Path], text: str, command: str = "deidentify") -> list[Failure]:
    """The written copies against the identifiers of the pristine seed and of the mutant."""
    import pydicom

    from fetalviewer.dicom.deid import DeidOptions, find_identifier_leaks, identifier_strings
    from tests.fuzz.mutate import seed_bytes

    identifiers: set[str] = set()
    for data in (seed_bytes(mutant.source), mutant.data):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
                identifiers |= identifier_strings(ds, DeidOptions())
        except Exception:  # noqa: BLE001 - a mutant whose header does not parse has no identifiers to find
            continue
    failures = []
    for path in written:
        try:
            leaks = find_identifier_leaks(path, identifiers)
        except Exception as exc:  # noqa: BLE001
            failures.append(Failure(mutant, command, f"{path.name} does not read back ({exc})", text))
            continue
        if leaks:
            failures.append(Failure(mutant, command, f"{path.name} leaks {leaks}", text))
    return failures
