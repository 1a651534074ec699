"""One file -> frame rows, with the app's inference service: the code every batch engine runs.

:class:`FileAnalyzer` owns one :class:`~fetalviewer.model.service.InferenceService` (the model is loaded
once, on the service's worker thread) and analyses one DICOM file per call, exactly as
``fetalviewer analyze`` does: frames read with :func:`fetalviewer.dicom.open_instance`, cropped and given
their GA pixel size by :func:`fetalviewer.model.inputs.frame_inputs_from_cine`, read out by the engine in
:class:`~fetalviewer.model.service.AnalyzeRequest` batches. Memory is bounded: at most
two chunks of :data:`CHUNK_FRAMES` decoded frames (or of one model batch, if larger) are held: the next
chunk is decoded while the model runs the current one. Both engines (in process, Ray actors) run this class; nothing here knows about Ray.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from fetalviewer.batch import schema
from fetalviewer.errors import DicomReadError, FetalViewerError, FrameDecodeError

#: Frames decoded and sent to the model at a time, at least (bounded memory for long cines).
CHUNK_FRAMES = 32


@dataclass(frozen=True)
class ModelSpec:
    """Which model a worker loads: the shared model options of the command line."""

    model: str = "auto"
    weights: str | None = None
    config: str | None = None
    device: str = "auto"
    batch_size: int | None = None
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise ValueError(f"batch_size must be None or a positive int, got {self.batch_size!r}")

    def open_service(self):
        """A started :class:`InferenceService` with the model loaded (raises the load error): the same
        load-once path as every command (:class:`~fetalviewer.workspace.study_run.ModelSession`)."""
        from fetalviewer.workspace.study_run import ModelSession

        session = ModelSession(
            self.weights,
            self.config,
            device=self.device,
            precision=self.precision,
            batch_size=self.batch_size,
            model=self.model,
        )
        session.load()
        return session.service


def model_name_of(info) -> str:
    """The model's name for the frames table (``FetalCLIP``, ``MobileFetalCLIP``, or the config name)."""
    for attr in ("model_name", "name", "config_name"):
        value = getattr(info, attr, None)
        if isinstance(value, str) and value:
            return value
    return "unknown"


@dataclass(frozen=True)
class FileTask:
    """One file to analyse; ``fingerprint`` as the driver saw it (recomputed by the worker if None)."""

    path: str
    fingerprint: str | None = None


@dataclass
class FileResult:
    """What one file gave: rows (one per analysed frame) and/or the problem that stopped it."""

    path: str
    fingerprint: str | None = None
    sop_instance_uid: str | None = None
    n_frames_in_file: int = 0
    columns: dict[str, list[Any]] | None = None
    problem: str | None = None
    problem_kind: str | None = None
    seconds: float = 0.0
    worker: str = field(default_factory=lambda: f"{os.uname().nodename}:{os.getpid()}")

    @property
    def n_rows(self) -> int:
        return 0 if self.columns is None else schema.n_rows(self.columns)

    @property
    def done(self) -> bool:
        """True when the instance was analysed (perhaps with some frames that could not be decoded)."""
        return self.columns is not None and self.sop_instance_uid is not None


def problem_kind(exc: BaseException) -> str:
    text = str(exc)
    if "not a DICOM file" in text:
        return "not_dicom"
    if "no pixel data" in text:
        return "no_pixel_data"
    if isinstance(exc, FrameDecodeError):
        return "frame_decode"
    if isinstance(exc, DicomReadError):
        return "unreadable"
    return "analysis_failed"


class FileAnalyzer:
    """Analyse files one at a time with one loaded model (see the module docstring)."""

    def __init__(self, spec: ModelSpec, step: int = 1) -> None:
        if not isinstance(step, int) or step < 1:
            raise ValueError(f"step must be a positive int, got {step!r}")
        self.spec = spec
        self.step = step
        self.service = spec.open_service()
        self.info = self.service.info
        self.model_name = model_name_of(self.info)

    def close(self) -> None:
        self.service.shutdown()

    def __enter__(self) -> FileAnalyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def analyze(self, task: FileTask) -> FileResult:
        """Rows for every ``step``-th frame of ``task.path``; a bad file gives a result with a problem."""
        from fetalviewer.dicom import open_instance
        from fetalviewer.dicom.instance import STREAM_CACHE_MB
        from fetalviewer.workspace.cache import file_fingerprint

        start = time.perf_counter()
        result = FileResult(task.path, task.fingerprint)
        try:
            result.fingerprint = task.fingerprint or file_fingerprint(task.path)
            cine = open_instance(task.path, cache_mb=STREAM_CACHE_MB)
        except OSError as exc:
            return self._fail(result, f"{task.path}: cannot be read ({exc})", "unreadable", start)
        except FetalViewerError as exc:
            return self._fail(result, str(exc), problem_kind(exc), start)
        except Exception as exc:  # noqa: BLE001 - one odd file never stops an archive
            return self._fail(
                result, f"{task.path}: could not be opened ({type(exc).__name__}: {exc})", "unreadable", start
            )
        try:
            if not cine.sop_instance_uid:
                return self._fail(result, f"{task.path}: no SOP Instance UID", "unreadable", start)
            result.sop_instance_uid = cine.sop_instance_uid
            result.n_frames_in_file = int(cine.n_frames)
            integrity = list(cine.layout.problems)
            ids = schema.InstanceIds(
                cine.study_instance_uid, cine.series_instance_uid, cine.sop_instance_uid, task.path
            )
            columns = schema.empty_columns()
            bad_frames = self._run_frames(cine, ids, columns)
        except FetalViewerError as exc:
            return self._fail(result, str(exc), problem_kind(exc), start)
        except Exception as exc:  # noqa: BLE001 - reported with the file, never a crash of the run
            return self._fail(
                result,
                f"{task.path}: analysis failed ({type(exc).__name__}: {exc})",
                "analysis_failed",
                start,
            )
        finally:
            cine.close()
        result.columns = columns
        notes = [*integrity, *bad_frames]  # analysed, but the user is told what was not as the header said
        if notes:
            result.problem = f"{task.path}: " + "; ".join(notes)
            result.problem_kind = "frame_decode" if bad_frames else "integrity"
        result.seconds = time.perf_counter() - start
        return result

    def _fail(self, result: FileResult, message: str, kind: str, start: float) -> FileResult:
        result.problem, result.problem_kind = message, kind
        result.columns = None
        result.seconds = time.perf_counter() - start
        return result

    def _inputs(self, cine, indices: list[int], bad: list[str]) -> list:
        from fetalviewer.model.inputs import frame_inputs_from_cine

        inputs = []
        for i in indices:
            try:  # one corrupt frame does not lose the others (as in ``analyze``)
                inputs.extend(frame_inputs_from_cine(cine, [i], crop=True))
            except FrameDecodeError as exc:
                bad.append(f"frame {i} (0-based): {exc}")
        return inputs

    def _run_frames(self, cine, ids: schema.InstanceIds, columns: dict[str, list[Any]]) -> list[str]:
        from fetalviewer.model.engine import AnalyzeOptions
        from fetalviewer.model.service import AnalyzeRequest, next_request_id

        indices = list(range(0, int(cine.n_frames), self.step))
        size = max(CHUNK_FRAMES, self.spec.batch_size or 0)
        chunks = [indices[k : k + size] for k in range(0, len(indices), size)]
        bad: list[str] = []
        options = AnalyzeOptions(batch_size=self.spec.batch_size)
        pending = None  # the model runs one chunk while the next one is decoded here
        for chunk in [*chunks, None]:
            inputs = self._inputs(cine, chunk, bad) if chunk is not None else []
            if pending is not None:
                answer = pending.result()
                if answer.error:
                    raise FetalViewerError(f"{ids.source_path}: {answer.error}")
                if answer.cancelled:
                    raise FetalViewerError(f"{ids.source_path}: analysis cancelled")
                schema.append_rows(
                    columns, ids, answer.predictions, self.model_name, self.info.weights_sha256
                )
                pending = None
            if inputs:
                request = AnalyzeRequest(next_request_id(), tuple(inputs), options)
                pending = self.service.submit(request)
        return bad
