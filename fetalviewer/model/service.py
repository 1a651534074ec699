"""InferenceService: one long-lived worker thread that owns the model and runs requests in order.

The caller (window or command line) builds an immutable :class:`AnalyzeRequest` (request id, frames,
options, cancel event) and gets a ``Future``; progress and results arrive through callbacks called ON
THE WORKER THREAD (the window wraps them with ``superqt.ensure_main_thread``). Cancellation is
cooperative, between batches. The model is loaded in the background (with progress) by the first job.
On CUDA, out-of-memory halves the batch, and at batch 1 moves the model to the CPU. Qt-free.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fetalviewer.errors import FetalViewerError
from fetalviewer.model.engine import AnalyzeOptions, FetalClipEngine
from fetalviewer.model.inputs import FrameInput
from fetalviewer.model.results import FramePrediction, ModelInfo

log = logging.getLogger(__name__)
_IDS = itertools.count(1)
DEFAULT_BATCH = {"cuda": 32, "mps": 16, "cpu": 8}


def next_request_id() -> int:
    return next(_IDS)


@dataclass(frozen=True)
class AnalyzeRequest:
    """Frames to analyse; ``want_embeddings`` also returns the [N, D] L2-normalised image embeddings (text
    search). Studies are analysed by the workspace's runner
    (:class:`fetalviewer.workspace.study_analysis.StudyAnalysis`), which also keeps the un-normalised ones."""

    request_id: int | str
    inputs: tuple[FrameInput, ...]
    options: AnalyzeOptions = AnalyzeOptions()
    cancel_event: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)
    want_embeddings: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        if not all(isinstance(i, FrameInput) for i in self.inputs):
            raise TypeError("inputs must be FrameInput records")

    def cancel(self) -> None:
        self.cancel_event.set()


@dataclass(frozen=True)
class Progress:
    request_id: int | str | None
    stage: str
    done: float
    total: float


@dataclass(frozen=True)
class AnalyzeResult:
    request_id: int | str
    predictions: tuple[FramePrediction, ...]
    embeddings: np.ndarray | None = None
    cancelled: bool = False
    error: str | None = None
    model: ModelInfo | None = None
    batch_size: int | None = None
    seconds: float = 0.0


ProgressCallback = Callable[[Progress], None]


class InferenceService:
    """See the module docstring. ``loader`` builds the engine (tests may pass their own)."""

    def __init__(
        self,
        weights_path: str | None = None,
        config_path: str | None = None,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int | None = None,
        loader: Callable[..., FetalClipEngine] | None = None,
        model: str = "auto",
        interactive: bool = False,
    ) -> None:
        from fetalviewer.model.families import check_choice

        self._model = check_choice(model)
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self._weights_path = weights_path
        self._config_path = config_path
        self._device = device
        self._precision = precision
        self._batch_size = batch_size
        self._loader = loader
        #: A window runs the model on all cores but one (the user interface keeps one); a command uses all.
        self._interactive = interactive
        self._engine: FetalClipEngine | None = None
        self._load_error: FetalViewerError | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetalclip-worker")
        self._closed = False
        self._pending: set[Future] = set()
        self._lock = threading.Lock()
        self._cancel_all = threading.Event()

    # lifecycle -------------------------------------------------------------------------------------
    @property
    def engine(self) -> FetalClipEngine | None:
        return self._engine

    @property
    def info(self) -> ModelInfo | None:
        return None if self._engine is None else self._engine.info

    @property
    def batch_size(self) -> int:
        if self._batch_size is not None:
            return self._batch_size
        device = self._engine.loaded.device if self._engine is not None else "cpu"
        return DEFAULT_BATCH.get(device.split(":")[0], 8)

    def _submit(self, fn, *args) -> Future:
        with self._lock:
            if self._closed:
                raise RuntimeError("the inference service has been shut down")
            future = self._executor.submit(fn, *args)
            self._pending.add(future)
        future.add_done_callback(lambda f: self._pending.discard(f))
        return future

    def load(self, on_progress: ProgressCallback | None = None) -> Future:
        """Load the model in the background; the Future gives the ModelInfo (or raises the load error)."""
        return self._submit(self._ensure_loaded, on_progress)

    def _default_loader(self, progress) -> FetalClipEngine:
        from fetalviewer.model.loader import fuse_branches
        from fetalviewer.model.selection import load_model

        try:
            loaded = load_model(self._model, self._weights_path, self._config_path, device=self._device,
                                precision=self._precision, progress=progress)  # fmt: skip
        except ValueError as exc:  # a device that is not there, an unknown choice
            raise FetalViewerError(str(exc)) from exc
        fuse_branches(loaded.model)  # MobileFetalCLIP: same function, faster (see fuse_branches)
        return FetalClipEngine(loaded)

    def _ensure_loaded(self, on_progress: ProgressCallback | None = None) -> ModelInfo:
        if self._engine is not None:
            return self._engine.info
        if self._load_error is not None:
            raise self._load_error

        def progress(stage: str, fraction: float) -> None:
            if on_progress is not None:
                on_progress(Progress(None, stage, fraction, 1.0))

        try:
            engine = (self._loader or self._default_loader)(progress)
        except FetalViewerError as exc:
            self._load_error = exc
            raise
        if engine.loaded.device == "cpu":
            _set_cpu_threads(self._interactive)
        self._engine = engine
        return engine.info

    def shutdown(self, wait: bool = True) -> None:
        """Cancel queued jobs, stop the worker; running requests stop at their next batch."""
        with self._lock:
            self._closed = True
            pending = list(self._pending)
        for future in pending:
            future.cancel()
        self._cancel_all.set()
        self._executor.shutdown(wait=wait, cancel_futures=True)

    # requests --------------------------------------------------------------------------------------
    def submit(
        self,
        request: AnalyzeRequest,
        on_progress: ProgressCallback | None = None,
        on_result: Callable[[AnalyzeResult], None] | None = None,
    ) -> Future:
        """Queue ``request``; the Future (and ``on_result``) get an :class:`AnalyzeResult`, never raise."""
        if not isinstance(request, AnalyzeRequest):
            raise TypeError("request must be an AnalyzeRequest")
        return self._submit(self._run_request, request, on_progress, on_result)

    def call(self, fn: Callable[[FetalClipEngine], Any]) -> Future:
        """Run ``fn(engine)`` on the worker (e.g. ``encode_image_with_blocks`` for the heads)."""
        return self._submit(self._run_call, fn)

    def _run_call(self, fn):
        import torch

        self._ensure_loaded()
        with torch.inference_mode():
            return fn(self._engine)

    def rank_by_text(self, text: str, embeddings: np.ndarray) -> Future:
        """Future of (indices best first, 100 x cos scores) of ``embeddings`` for a free-text query."""
        return self.call(lambda engine: engine.rank_by_text(text, embeddings))

    def _run_request(self, request, on_progress, on_result) -> AnalyzeResult:
        start = time.perf_counter()
        try:
            self._ensure_loaded(on_progress)
            result = self._analyze(request, on_progress)
        except FetalViewerError as exc:
            result = AnalyzeResult(
                request.request_id, (), error=str(exc), seconds=time.perf_counter() - start
            )
        except Exception as exc:  # the worker must survive anything; the message goes to the caller
            log.exception("inference request %s failed", request.request_id)
            result = AnalyzeResult(
                request.request_id, (), error=f"inference failed: {exc}", seconds=time.perf_counter() - start
            )
        if on_result is not None:
            on_result(result)
        return result

    def _analyze(self, request: AnalyzeRequest, on_progress) -> AnalyzeResult:
        import torch

        engine = self._engine
        start = time.perf_counter()
        batch = request.options.batch_size or self.batch_size
        n = len(request.inputs)
        predictions: list[FramePrediction] = []
        embeddings: list[np.ndarray] = []
        done, cancelled = 0, False
        if on_progress is not None:
            on_progress(Progress(request.request_id, "analysing", 0, n))
        with torch.inference_mode():
            while done < n:
                if request.cancel_event.is_set() or self._cancel_all.is_set():
                    cancelled = True
                    break
                chunk = request.inputs[done : done + batch]
                try:
                    emb = engine.embed_images([f.image for f in chunk])
                except torch.cuda.OutOfMemoryError:
                    batch = self._recover_from_oom(batch)
                    continue
                predictions.extend(engine.predict_embeddings(chunk, emb, request.options))
                if request.want_embeddings:
                    embeddings.append(emb)
                done += len(chunk)
                if on_progress is not None:
                    on_progress(Progress(request.request_id, "analysing", done, n))
        return AnalyzeResult(
            request_id=request.request_id,
            predictions=tuple(predictions),
            embeddings=np.concatenate(embeddings) if embeddings else None,
            cancelled=cancelled,
            model=engine.info,
            batch_size=batch,
            seconds=time.perf_counter() - start,
        )

    def _recover_from_oom(self, batch: int) -> int:
        import torch

        loaded = self._engine.loaded
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if batch > 1:
            log.warning("GPU out of memory at batch %d; retrying with %d", batch, batch // 2)
            return batch // 2
        if loaded.device == "cpu":
            raise FetalViewerError("out of memory even at batch size 1 on the CPU")
        log.warning("GPU out of memory at batch 1; moving the model to the CPU")
        loaded.to("cpu")
        _set_cpu_threads(self._interactive)
        return DEFAULT_BATCH["cpu"]


def _set_cpu_threads(interactive: bool) -> None:
    import torch

    from fetalviewer.model.devices import cpu_threads_for_inference

    torch.set_num_threads(cpu_threads_for_inference(interactive))
