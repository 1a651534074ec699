"""The window's export: gather what the window has, run ``export_exam`` off the GUI thread.

On the GUI thread :func:`collect_export_inputs` captures an immutable :class:`ExportRequest`: the open
study's instances, a copy of its exam record (manual, automatic and edited measurements, plane labels,
impression, sign-off), the AI review's per-frame results as ``FramePrediction`` lists
(:func:`fetalviewer.report.build.predictions_from_analyses`), the automatic head contours of the biometry
controller, the CHD review text, the OB SRs of the study (:mod:`fetalviewer.ui.sr_panel`) and the options.
A superqt worker runs :func:`run_export` (``build_report_content`` + ``export_exam``: the same code as
``fetalviewer report``, all-or-nothing); progress comes back through a queued signal and the cancel
event is checked between formats.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportRequest:
    """Everything one export needs, captured on the GUI thread (the worker touches no widget)."""

    request_id: int
    out_dir: Path
    options: Any  # fetalviewer.report.export.ExportOptions
    instances: tuple
    record: Any  # a copy of the study's ExamRecord
    predictions: Mapping[str, list] = field(default_factory=dict)
    model_info: Any = None
    model_unavailable_reason: str | None = None
    weights_path: str | None = None  # to describe cached results when the model is not loaded
    contours: Mapping[tuple[str, int], list] = field(default_factory=dict)
    chd_flags: tuple[str, ...] = ()
    chd_unavailable_reason: str | None = None
    sr_reports: tuple = ()
    problems: tuple[str, ...] = ()
    plane_threshold_0_1: float = 0.5
    discordance_threshold_days: float = 14.0
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)
    config_path: str | None = None  # with weights_path and model: the model choice the results came from
    model: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.request_id, int) or self.request_id < 1:
            raise ValueError(f"request_id must be an int >= 1, got {self.request_id!r}")
        if not self.instances:
            raise ValueError("instances: open a study before exporting")
        object.__setattr__(self, "out_dir", Path(self.out_dir))


def _model_info_of_weights(weights_path: str | None, config_path: str | None = None, model: str = "auto"):
    """ModelInfo of the model choice in force when the results came from the cache (model not loaded)."""
    from fetalviewer.model.selection import select_model

    return select_model(model, weights_path, config_path).identity()


def run_export(request: ExportRequest, progress: Callable[[str], None] | None = None):
    """Worker body (Qt-free): build the report content and write every format; returns ExportResult."""
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.report.build import build_report_content
    from fetalviewer.report.export import export_exam

    say = progress or (lambda _text: None)
    info = request.model_info
    if info is None and request.predictions:
        try:
            info = _model_info_of_weights(request.weights_path, request.config_path, request.model)
        except (FetalViewerError, OSError, ValueError) as exc:
            log.warning("model card without weights details: %s", exc)
    say("collecting the report")
    content = build_report_content(
        request.instances, request.record, request.predictions, model_info=info,
        model_unavailable_reason=request.model_unavailable_reason,
        deidentified=request.options.deidentify, contours=request.contours,
        chd_flags=request.chd_flags or None, chd_unavailable_reason=request.chd_unavailable_reason,
        plane_threshold_0_1=request.plane_threshold_0_1,
        discordance_threshold_days=request.discordance_threshold_days, problems=request.problems,
        sr_reports=request.sr_reports,
    )  # fmt: skip
    return export_exam(content, request.instances, request.record.measurements, request.out_dir,
                       request.options, progress=say, cancel=request.cancel)  # fmt: skip


def _record_copy(record):
    from fetalviewer.exam.record import ExamRecord

    copy = ExamRecord.from_dict(record.to_dict())
    copy.load_problem = record.load_problem
    return copy


def study_record(window, study_uid: str):
    """The window's live exam record of ``study_uid`` (the one the calipers write to)."""
    record = window.measurements.record_for_study(study_uid)
    if record is None:
        from fetalviewer.exam.record import load_exam_record

        record = load_exam_record(study_uid)
    return record


def current_study(window) -> tuple[str | None, list]:
    """(StudyInstanceUID, its instances) of the image on screen (or of the first open image); (None, [])
    when no image is open or its Study Instance UID is missing or damaged (no exam record can be kept)."""
    loop = window.current_loop or next(iter(window.instances), None)
    if loop is None or not (loop.study_instance_uid or "").strip():
        return None, []
    uid = loop.study_instance_uid
    return uid, [i for i in window.instances if i.study_instance_uid == uid]


def _model_inputs(window, uids: set[str]) -> tuple[dict, Any, str | None, str | None]:
    from fetalviewer.report.build import predictions_from_analyses

    workspace = window.workspace
    analyses = {uid: a for uid, a in workspace.results.items() if uid in uids and a.n_done}
    predictions = predictions_from_analyses(analyses, workspace.model_label)
    backend = workspace.worker.backend
    info = backend.loaded.info if predictions and backend is not None and backend.loaded is not None else None
    weights = (workspace._weights_path or window.weights_path, workspace._config_path, workspace.worker.model)
    reason = None
    if not predictions:
        if workspace.unavailable_reason:
            reason = str(workspace.unavailable_reason)
        else:
            reason = "the study was not analysed (AI review: Analyse study)"
    return predictions, info, reason, weights


def _head_contours(window, uids: set[str]) -> dict:
    heads = window.biometry._heads
    return {key: [[tuple(map(float, p)) for p in head.contour_px]] for key, head in heads.items()
            if key[0] in uids and head.contour_px is not None and len(head.contour_px) >= 3}  # fmt: skip


def _chd(window) -> tuple[tuple[str, ...], str | None]:
    try:
        from fetalviewer.ui.biometry_panel import chd_section

        text, flag = chd_section(window.biometry)
    except Exception as exc:  # noqa: BLE001 - the export goes on; the report says why there is no CHD line
        return (), f"the CHD review could not be evaluated ({exc})"
    loop = window.current_loop
    where = f" (clip on screen: image {window.instances.index(loop) + 1})" if loop in window.instances else ""
    return ((text + where,), None) if flag is not None else ((), text)


def collect_export_inputs(window, out_dir, options, request_id: int) -> ExportRequest:
    """Capture what the window has for the study on screen (GUI thread; see the module docstring)."""
    from fetalviewer.settings import load_settings

    study_uid, instances = current_study(window)
    if study_uid is None:
        raise ValueError("instances: open a study before exporting")
    uids = {i.sop_instance_uid for i in instances}
    predictions, info, reason, (weights, config, model) = _model_inputs(window, uids)
    chd_flags, chd_reason = _chd(window)
    reports = tuple(r for r in window.sr_panel.reports if r.study_instance_uid == study_uid)
    settings = load_settings()
    return ExportRequest(
        request_id, Path(out_dir), options, tuple(instances), _record_copy(study_record(window, study_uid)),
        predictions, info, reason, weights, _head_contours(window, uids), chd_flags, chd_reason, reports,
        plane_threshold_0_1=float(settings.get("uncertain_threshold_0_1", 0.5)),
        discordance_threshold_days=float(settings.get("discordance_threshold_days", 14)),
        config_path=config, model=model,
    )  # fmt: skip


class ExportController(QObject):
    """Runs one export at a time on a superqt worker; results come back as signals (GUI thread)."""

    progress = Signal(str)
    finished = Signal(object)  # ExportResult
    failed = Signal(str)  # which file failed and why; nothing was written
    busy_changed = Signal(bool)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self._request_id = 0
        self._current: ExportRequest | None = None
        self._worker = None
        self.last_result = None
        self.last_error: str | None = None

    @property
    def busy(self) -> bool:
        return self._current is not None

    def start(self, out_dir, options) -> int:
        """Capture the window's state and start the export; returns the request id (0 when refused)."""
        if self.busy:
            self.failed.emit("an export is already running; wait for it or cancel it")
            return 0
        self._request_id += 1
        try:
            request = collect_export_inputs(self.window, out_dir, options, self._request_id)
        except (ValueError, TypeError) as exc:
            self.last_error = str(exc)
            self.failed.emit(self.last_error)
            return 0
        from superqt.utils import create_worker

        self._current = request
        self.last_result, self.last_error = None, None
        worker = create_worker(
            run_export, request, self.progress.emit, _start_thread=False, _ignore_errors=True
        )
        worker.returned.connect(lambda result, rid=request.request_id: self._on_worker_returned(rid, result))
        worker.errored.connect(lambda exc, rid=request.request_id: self._on_worker_errored(rid, exc))
        self._worker = worker
        self.busy_changed.emit(True)
        log.info("export %d started: %s", request.request_id, ",".join(options.formats))
        worker.start()
        return request.request_id

    def cancel(self) -> None:
        if self._current is not None:
            self._current.cancel.set()
            self.progress.emit("cancelling after the file being written…")

    def _done(self, request_id: int) -> bool:
        if self._current is None or self._current.request_id != request_id:
            return False
        self._current = None  # the worker object stays referenced until the next export
        self.busy_changed.emit(False)
        return True

    def _on_worker_returned(self, request_id: int, result) -> None:
        if self._done(request_id):
            self.last_result = result
            log.info("export %d wrote %d file(s)", request_id, len(result.files))
            self.finished.emit(result)

    def _on_worker_errored(self, request_id: int, exc: BaseException) -> None:
        if self._done(request_id):
            from fetalviewer.errors import FetalViewerError

            text = str(exc) if isinstance(exc, FetalViewerError) else f"{type(exc).__name__}: {exc}"
            self.last_error = text if "nothing was written" in text else f"{text}; nothing was written"
            log.error("export %d failed: %s", request_id, exc)
            self.failed.emit(self.last_error)

    def shutdown(self) -> None:
        """Cancel a running export and wait for its worker (window closing)."""
        self.cancel()
        worker = self._worker
        if worker is not None:
            try:
                worker.quit()
                worker.await_workers(5000) if hasattr(worker, "await_workers") else None
            except Exception:  # noqa: BLE001 - best effort at shutdown
                pass
