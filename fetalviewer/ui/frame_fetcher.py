"""Decode a frame off the GUI thread when playback needs one that is not cached yet.

One long-lived single worker thread runs requests in order; only the latest request matters
(older ones are skipped before they start). Results come back on the main thread through a queued
Qt signal, tagged with the request id, so the window can drop a result that arrives after a newer
frame was already shown.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class FrameFetcher(QObject):
    #: request_id, loop, frame_index, frame (ndarray or None), error message ("" when fine)
    ready = Signal(int, object, int, object, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fv-frame")
        self._latest = 0

    def request(self, loop, index: int) -> int:
        """Decode ``loop.frame(index)`` on the worker; returns the request id."""
        self._latest += 1
        request_id = self._latest
        self._executor.submit(self._run, request_id, loop, int(index))
        return request_id

    @property
    def latest_request(self) -> int:
        return self._latest

    def _run(self, request_id: int, loop, index: int) -> None:
        if request_id != self._latest:
            return  # superseded before it started
        try:
            frame = loop.frame(index)
            error = ""
        except Exception as exc:  # noqa: BLE001 - reported to the window, which shows it on the canvas
            frame, error = None, str(exc) or type(exc).__name__
        self.ready.emit(request_id, loop, index, frame, error)

    def shutdown(self) -> None:
        self._latest += 1
        self._executor.shutdown(wait=True, cancel_futures=True)
