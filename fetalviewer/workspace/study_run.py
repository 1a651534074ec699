"""One loaded model for a command-line run, and the study analysed by the workspace's runner.

:class:`ModelSession` loads the model ONCE (an :class:`~fetalviewer.model.service.InferenceService`, whose
worker thread owns it) and offers everything a command needs from it:

* :meth:`ModelSession.analyse` - the study through :class:`~fetalviewer.workspace.study_analysis.StudyAnalysis`
  with the window's result cache (a study analysed by a command opens instantly in the window and vice
  versa), optionally only some frames per instance (e.g. every 5th);
* :meth:`ModelSession.run_on_model` - ``fn(loaded)`` on the model's thread (heads, CHD scoring);
* :meth:`ModelSession.embed_text` - a text query for the search;
* :attr:`ModelSession.service` - the service itself (its text-embedding cache, its worker thread).

:func:`frame_predictions` turns an instance's workspace results into the engine's ``FramePrediction``
records (analysed frames only), the form the report and the ``analyze`` records use; given the target
and the backend it fills every field the engine fills (pixel sizes, crop box, GA prompt spacing, notes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fetalviewer.workspace.cache import AnalysisCache
from fetalviewer.workspace.results import InstanceAnalysis
from fetalviewer.workspace.study_analysis import AnalysisProgress, AnalysisTarget, StudyAnalysis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyRun:
    """What :meth:`ModelSession.analyse` found: results and unreadable instances by SOP Instance UID."""

    results: dict[str, InstanceAnalysis]
    problems: dict[str, str] = field(default_factory=dict)
    #: SOP Instance UID -> {0-based frame: why it was skipped}
    frame_problems: dict[str, dict[int, str]] = field(default_factory=dict)
    #: frames that went through the model in this run (the others came from the cache)
    frames_computed: int = 0
    #: wall-clock seconds of the run
    seconds: float = 0.0


class ModelSession:
    """The model a command loads once (see the module docstring); use as a context manager."""

    def __init__(
        self,
        weights: str | None = None,
        config: str | None = None,
        *,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int | None = None,
        model: str = "auto",
    ) -> None:
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.weights, self.config = weights, config
        self.device, self.precision, self.batch_size = device, precision, batch_size
        self.model = model  # auto | fetalclip | mobilefetalclip (fetalviewer.model.families)
        self._service = None
        self._backend = None
        self.load_count = 0

    # ---------------------------------------------------------------------------------- loading
    def load(self, on_progress: Callable[[Any], None] | None = None):
        """Load the model (once; later calls return the same ModelInfo). Raises the loader's errors."""
        if self._service is not None:
            return self._service.info
        from fetalviewer.model.service import InferenceService

        service = InferenceService(
            self.weights,
            self.config,
            device=self.device,
            precision=self.precision,
            batch_size=self.batch_size,
            model=self.model,
        )
        try:
            info = service.load(on_progress).result()
        except BaseException:
            service.shutdown()
            raise
        self._service = service
        self.load_count += 1
        return info

    @property
    def loaded(self) -> bool:
        return self._service is not None

    @property
    def service(self):
        if self._service is None:
            raise RuntimeError("the model is not loaded: call load() first")
        return self._service

    @property
    def info(self):
        return None if self._service is None else self._service.info

    @property
    def backend(self):
        """The workspace's :class:`~fetalviewer.workspace.fetalclip_backend.FetalClipBackend` on this model."""
        if self._backend is None:
            from fetalviewer.workspace.fetalclip_backend import FetalClipBackend

            engine = self.service.engine
            self._backend = FetalClipBackend(engine.loaded, engine)
        return self._backend

    def close(self) -> None:
        if self._service is not None:
            self._service.shutdown()
            self._service = None
            self._backend = None

    def __enter__(self) -> ModelSession:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ---------------------------------------------------------------------------------- using
    def run_on_model(self, fn: Callable[[Any], Any]) -> Any:
        """``fn(loaded)`` run on the model's worker thread; its result returned (its exception raised)."""
        if not callable(fn):
            raise TypeError("fn must be callable")
        return self.service.call(lambda engine: fn(engine.loaded)).result()

    def embed_text(self, text: str):
        """The L2-normalised embedding of a free-text query (computed on the model's thread)."""
        backend = self.backend
        return self.service.call(lambda _engine: backend.embed_text(text)).result()

    def analyse(
        self,
        targets: Sequence[AnalysisTarget],
        *,
        frames: Mapping[str, Sequence[int]] | None = None,
        cache: AnalysisCache | None = None,
        batch_size: int | None = None,
        on_progress: Callable[[AnalysisProgress], None] | None = None,
    ) -> StudyRun:
        """Analyse ``targets`` (``frames``: uid -> 0-based frames, None = all) with ``cache`` (None = none)."""
        import time

        backend = self.backend
        job = StudyAnalysis(
            1, targets, backend, cache, batch_size=batch_size or self.batch_size or 4, frames=frames
        )
        before, start = backend.frames_analysed, time.perf_counter()
        results = self.service.call(lambda _engine: job.run(on_progress=on_progress)).result()
        return StudyRun(
            dict(results),
            dict(job.problems),
            {uid: dict(skipped) for uid, skipped in job.frame_problems.items()},
            backend.frames_analysed - before,
            time.perf_counter() - start,
        )


def frame_predictions(
    analysis: InstanceAnalysis,
    source: str = "workspace",
    model: str = "FetalCLIP zero-shot",
    *,
    target: AnalysisTarget | None = None,
    backend: Any = None,
    frames: Sequence[int] | None = None,
) -> list:
    """The analysed frames of ``analysis`` as ``FramePrediction`` records (source ``source``), in frame
    order (only ``frames`` when given); empty when its classes are not the FetalCLIP planes.

    ``model`` labels the values (``ModelInfo.output_label`` of the model that computed them). With
    ``target`` (and the ``backend`` that analysed it, for its ``input_px``) the
    records carry what the engine's own read-out carries: the pixel size and where it came from, the
    crop box, the GA prompt's pixel spacing, the reason for a missing GA, ``frame_index`` None for a
    plain image."""
    import math

    from fetalviewer.model.planes import BRAIN_SUBPLANE_CLASSES, PLANE_CLASSES
    from fetalviewer.model.readout import ga_spacing_string
    from fetalviewer.model.results import FramePrediction

    keys = tuple(analysis.plane_keys)
    if set(keys) != set(PLANE_CLASSES):
        return []
    brain_keys = tuple(analysis.brain_keys)
    wanted = None if frames is None else {int(i) for i in frames}
    extra: dict[str, Any] = {"model": model}
    notes: tuple[str, ...] = ()
    if target is not None:
        notes = tuple(target.notes)
        if target.pixel_size_mm is not None:
            notes += (f"pixel size {target.pixel_size_mm:.4f} mm: {target.pixel_size_note}",)
        extra.update(pixel_spacing_mm=target.pixel_size_mm, crop_box_px=target.crop_box_px, notes=notes)
    out = []
    for frame in (int(i) for i in analysis.done.nonzero()[0]):
        if wanted is not None and frame not in wanted:
            continue
        row = analysis.plane_probs[frame]
        probs = {k: min(1.0, max(0.0, float(row[keys.index(k)]))) for k in PLANE_CLASSES}
        top = max(probs, key=probs.get)
        brain = analysis.brain_probs[frame]
        brain_probs = None
        if set(brain_keys) == set(BRAIN_SUBPLANE_CLASSES) and not any(math.isnan(float(v)) for v in brain):
            brain_probs = {
                k: min(1.0, max(0.0, float(brain[brain_keys.index(k)]))) for k in BRAIN_SUBPLANE_CLASSES
            }
        ga = float(analysis.ga_days[frame])
        ga_days = None if math.isnan(ga) else int(round(ga))
        reason, spacing = None, None
        if target is None:
            if ga_days is None:
                reason = analysis.ga_unavailable_reason or "no GA read-out for this frame (not a head frame)"
        else:
            head = brain_probs is not None  # the sub-plane is read exactly where GA is attempted
            if not head:
                reason = f"not a head view (top plane: {top}); GA is read from brain frames only"
            elif target.pixel_size_mm is None:
                reason = target.pixel_size_note or target.ga_unavailable_reason or "no pixel size"
            elif target.frame_size_px is not None and getattr(backend, "input_px", None):
                width, height = target.frame_size_px
                spacing = ga_spacing_string(width, height, target.pixel_size_mm, int(backend.input_px))
            if ga_days is None and reason is None:
                reason = "no GA read-out for this frame"
        index = None if target is not None and target.kind == "image" else frame
        out.append(
            FramePrediction(
                source, index, probs, top, probs[top], brain_probs, ga_days, reason,
                ga_pixel_spacing=spacing, **extra,
            )
        )
    return out
