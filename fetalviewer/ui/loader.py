"""Opening a study off the GUI thread: ``load_study`` first, then one thumbnail per instance.

The main thread captures a frozen :class:`LoadRequest`; a superqt worker runs :func:`load_headers`
and the result comes back on the main thread through the worker's ``returned`` signal, tagged with
the request id so that a result of an older request is dropped. The window shows the first frame at
once; a second (generator) worker then decodes the thumbnails one by one (:func:`iter_thumbnails`),
each delivered as it is ready.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, Signal
from superqt.utils import create_worker

log = logging.getLogger(__name__)

THUMB_MAX_PX = 112


@dataclass(frozen=True)
class LoadRequest:
    request_id: int
    paths: tuple[str, ...]


@dataclass(frozen=True)
class LoadOutcome:
    """What the worker hands back: the engine's instances and problems, and thumbnails by SOP UID."""

    request_id: int
    paths: tuple[str, ...]
    instances: list
    problems: list  # of (path, message)
    thumbnails: dict = field(default_factory=dict)
    skipped: tuple[str, ...] = ()  # non-DICOM files met while walking folders (not problems)


def make_thumbnail(frame: np.ndarray, max_px: int = THUMB_MAX_PX) -> np.ndarray:
    """Downscale a uint8 frame so that its longer side is at most ``max_px`` (area averaging)."""
    import cv2

    rows, cols = frame.shape[:2]
    scale = min(max_px / max(rows, cols), 1.0)
    size = (max(int(round(cols * scale)), 1), max(int(round(rows * scale)), 1))
    return np.ascontiguousarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))


def load_headers(request: LoadRequest) -> LoadOutcome:
    """Run on a worker thread: open every path; a bad file becomes a problem, never an exception."""
    from fetalviewer.dicom import load_study

    study = load_study(list(request.paths))
    problems = [(str(p.path), str(p.message)) for p in study.problems]
    skipped = tuple(str(p) for p in getattr(study, "skipped", ()))
    return LoadOutcome(request.request_id, request.paths, list(study.instances), problems, {}, skipped)


def iter_thumbnails(request_id: int, instances: list):
    """Run on a worker thread: yield ``(request_id, sop_uid, thumbnail or None, error)`` per instance."""
    for inst in instances:
        try:
            yield request_id, inst.sop_instance_uid, make_thumbnail(inst.frame(0)), ""
        except Exception as exc:  # noqa: BLE001 - a thumbnail failure is reported, the instance still opens
            yield request_id, inst.sop_instance_uid, None, f"first frame could not be decoded ({exc})"


class StudyLoader(QObject):
    """Starts loads on a worker thread and delivers the latest one's outcome on the main thread."""

    loaded = Signal(object)  # LoadOutcome
    thumbnail_ready = Signal(str, object, str)  # sop_instance_uid, array or None, error
    thumbnails_done = Signal()
    failed = Signal(str)
    started = Signal(int)  # number of paths

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._request_id = 0
        self._workers: dict[int, object] = {}

    @property
    def busy(self) -> bool:
        return bool(self._workers)

    def load(self, paths) -> int:
        """Start loading ``paths``; returns the request id."""
        self._request_id += 1
        request = LoadRequest(self._request_id, tuple(str(p) for p in paths))
        worker = create_worker(load_headers, request, _start_thread=False)
        worker.returned.connect(self._on_worker_returned)
        worker.errored.connect(lambda exc, rid=request.request_id: self._on_worker_errored(rid, exc))
        worker.finished.connect(lambda rid=request.request_id: self._workers.pop(rid, None))
        self._workers[request.request_id] = worker
        self.started.emit(len(request.paths))
        worker.start()
        return request.request_id

    def _on_worker_returned(self, outcome: LoadOutcome) -> None:
        if outcome.request_id != self._request_id:
            log.info("dropping stale load result %d", outcome.request_id)
            for inst in outcome.instances:
                inst.close()
            return
        self.loaded.emit(outcome)
        if outcome.instances:
            self._start_thumbnails(outcome)

    def _start_thumbnails(self, outcome: LoadOutcome) -> None:
        rid = outcome.request_id
        worker = create_worker(iter_thumbnails, rid, list(outcome.instances), _start_thread=False)
        worker.yielded.connect(self._on_thumbnail_worker_yielded)
        worker.finished.connect(lambda: self._workers.pop(("thumbs", rid), None))
        worker.finished.connect(lambda: self.thumbnails_done.emit() if rid == self._request_id else None)
        self._workers[("thumbs", rid)] = worker
        worker.start()

    def _on_thumbnail_worker_yielded(self, item) -> None:
        request_id, uid, thumb, error = item
        if request_id == self._request_id:
            self.thumbnail_ready.emit(uid, thumb, error)

    def _on_worker_errored(self, request_id: int, exc: Exception) -> None:
        log.error("study load failed: %s", exc, exc_info=exc)
        if request_id == self._request_id:
            self.failed.emit(f"{type(exc).__name__}: {exc}")
