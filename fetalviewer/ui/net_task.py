"""Run one network job (echo, query, retrieve, send, indexing) on a plain thread and deliver its
progress and result to the GUI thread through queued Qt signals. Cancellation is cooperative: the job
gets a :class:`threading.Event` and checks it between instances."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from fetalviewer.errors import FetalViewerError

log = logging.getLogger(__name__)


class NetTask(QObject):
    """``job(progress, cancel)`` runs off the GUI thread; ``progress(obj)`` may be called any number of times."""

    progress = Signal(object)
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, job: Callable[[Callable[[object], None], threading.Event], object], parent=None) -> None:
        super().__init__(parent)
        self._job = job
        self.cancel_event = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fetalviewer-net", daemon=True)

    def start(self) -> NetTask:
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancel_event.set()

    def is_running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout_s: float | None = None) -> None:
        self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            result = self._job(self.progress.emit, self.cancel_event)
        except (FetalViewerError, ValueError, KeyError, OSError) as exc:
            self.failed.emit(str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user, logged with the traceback
            log.exception("network task failed")
            self.failed.emit(f"internal error: {type(exc).__name__}: {exc}")
            return
        self.done.emit(result)
