"""The workspace's link to the model: requests on the engine's :class:`InferenceService` worker thread.

The service owns the model on ONE long-lived thread. A study analysis runs there one batch per
service call (:meth:`StudyAnalysis.iter_steps`), chained, so other requests of the window (a text query,
another feature's inference) wait one batch at most. Results come back through Qt signals emitted on the
worker thread; Qt queues them to the GUI thread (the receiver lives there), where stale request ids are
dropped. Cancellation is cooperative (the job's cancel event, checked between batches).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


#: Niceness given to the model thread: under CPU contention the GUI thread runs first.
WORKER_NICENESS = 10
#: GIL switch interval while the workspace runs (CPython's default is 5 ms): a GUI handler waiting for
#: the GIL held by the model thread's Python code waits at most this long per hand-over.
GIL_SWITCH_INTERVAL_S = 0.001
_niced_threads: set[int] = set()


def _background_priority() -> None:
    """Lower the priority of the calling (model) thread once, where the OS allows it (Linux: per thread)."""
    import os
    import sys
    import threading

    tid = threading.get_native_id()
    if tid in _niced_threads:
        return
    _niced_threads.add(tid)
    if sys.getswitchinterval() > GIL_SWITCH_INTERVAL_S:
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    if sys.platform.startswith("linux") and hasattr(os, "setpriority"):
        try:
            current = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, max(current, WORKER_NICENESS))
        except OSError as exc:
            log.debug("cannot lower the model thread's priority: %s", exc)


class ModelWorker(QObject):
    """See the module docstring. ``service`` is shared with the window when it has one."""

    model_ready = Signal(object)  # FetalClipBackend
    model_failed = Signal(str)  # message for the user
    analysis_update = Signal(object)  # InstanceUpdate
    analysis_progress = Signal(object)  # AnalysisProgress
    analysis_finished = Signal(int, object)  # request id, results dict
    analysis_failed = Signal(int, str)
    search_done = Signal(int, str, object)  # request id, query, text embedding (np.ndarray)
    search_failed = Signal(int, str)
    cache_found = Signal(int, object)  # request id, {uid: InstanceAnalysis} read from the cache

    def __init__(
        self,
        service=None,
        weights_path: str | None = None,
        config_path: str | None = None,
        parent: QObject | None = None,
        model: str | None = None,
    ) -> None:
        from fetalviewer.model.weights import model_choice

        super().__init__(parent)
        self._own_service = service is None
        self._weights_path, self._config_path = weights_path, config_path
        self._model = model or model_choice()
        self.cached_model_info = None  # ModelInfo of the model choice, set when the cache is read
        self.service = service if service is not None else self._new_service()
        self.backend = None
        self._current_job = None
        self._closed = False

    def _new_service(self):
        from fetalviewer.model.service import InferenceService

        return InferenceService(
            self._weights_path, self._config_path, device="auto", model=self._model, interactive=True
        )

    @property
    def model(self) -> str:
        """The model choice in force (``auto``, ``fetalclip`` or ``mobilefetalclip``)."""
        return self._model

    def use_weights(self, weights_path: str | None, config_path: str | None, model: str | None = None) -> None:
        """Start a fresh service for other weights or another model choice (when this worker owns its
        service)."""
        self.cancel()
        self.backend = None
        self._weights_path, self._config_path = weights_path, config_path
        self._model = model or self._model
        self.cached_model_info = None
        if self._own_service:
            self.service.shutdown(wait=False)
            self.service = self._new_service()

    # ------------------------------------------------------------------------------ requests
    def load_model(self) -> Future:
        future = self.service.load()

        def done(f: Future) -> None:
            if self._closed:
                return
            try:
                f.result()
                from fetalviewer.workspace.fetalclip_backend import FetalClipBackend

                engine = self.service.engine
                self.backend = FetalClipBackend(engine.loaded, engine, defer_uncached_ga=True)
            except Exception as exc:  # noqa: BLE001 - shown to the user, never crashes the window
                self.model_failed.emit(str(exc))
                return
            self.model_ready.emit(self.backend)

        future.add_done_callback(done)
        return future

    def start_analysis(self, job) -> None:
        """Run a StudyAnalysis one step per service call (see the module docstring)."""
        self._current_job = job
        steps = job.iter_steps(self.analysis_update.emit, self.analysis_progress.emit)

        def step(_engine) -> bool:
            _background_priority()
            try:
                next(steps)
            except StopIteration:
                return False
            return True

        def chain(f: Future) -> None:
            if self._closed or f.cancelled():
                return
            try:
                more = f.result()
            except Exception as exc:  # noqa: BLE001 - reported, never fatal
                log.error("analysis %d failed: %s", job.request_id, exc)
                self.analysis_failed.emit(job.request_id, str(exc))
                return
            if more:
                try:
                    self.service.call(step).add_done_callback(chain)
                except RuntimeError:  # the service was shut down
                    return
            else:
                self.analysis_finished.emit(job.request_id, job.results)

        self.service.call(step).add_done_callback(chain)

    def read_cache(self, request_id: int, targets) -> None:
        """Look the study up in the result cache in the background (no model, no inference).

        The cache identity comes from the model choice's weights file (sha256, cached by path/size/mtime)
        and config name (:func:`fetalviewer.model.selection.select_model`), so the model need not be loaded
        to show an analysed study again, and another model's results are never shown. With ``auto`` and both
        models installed this asks for a GPU (imports torch) here, on the background thread, never the GUI's.
        """
        weights_path, config_path, model = self._weights_path, self._config_path, self._model

        def work():
            from fetalviewer.model.selection import select_model
            from fetalviewer.workspace.cache import AnalysisCache
            from fetalviewer.workspace.fetalclip_backend import identity_for
            from fetalviewer.workspace.study_analysis import load_cached_results

            info = select_model(model, weights_path, config_path).identity()
            self.cached_model_info = info  # read by the GUI after cache_found: which model the values are from
            identity = identity_for(info.weights_sha256, info.config_name)
            return load_cached_results(targets, identity, AnalysisCache())

        from superqt.utils import create_worker

        def deliver(found) -> None:
            if not self._closed:
                self.cache_found.emit(request_id, found)

        def failed(exc: BaseException) -> None:  # a cache problem is never fatal
            log.warning("reading the analysis cache failed: %s", exc)
            deliver({})

        # Not on the model thread (the service would load the model first): file reads on a superqt worker.
        worker = create_worker(work, _start_thread=False)
        worker.returned.connect(deliver)
        worker.errored.connect(failed)
        self._cache_worker = worker  # kept alive until it finished
        worker.start()

    def cancel(self) -> None:
        if self._current_job is not None:
            self._current_job.cancel()

    def embed_query(self, request_id: int, text: str) -> None:
        backend = self.backend

        def done(f: Future) -> None:
            if self._closed:
                return
            try:
                emb = f.result()
            except Exception as exc:  # noqa: BLE001 - reported, never fatal
                self.search_failed.emit(request_id, str(exc))
                return
            self.search_done.emit(request_id, text, emb)

        self.service.call(lambda _engine: backend.embed_text(text)).add_done_callback(done)

    def shutdown(self) -> None:
        """Cancel running work and stop the service this worker owns (before the Qt objects die)."""
        if self._closed:
            return
        self.cancel()
        self._closed = True
        if self._own_service:
            # Not waiting: a batch in progress finishes on its thread (its results are dropped, nothing is
            # emitted after this), so closing the window never waits for the model.
            self.service.shutdown(wait=False)
