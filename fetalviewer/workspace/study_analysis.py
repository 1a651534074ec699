"""Analyse every instance of a study with a model: cache first, then a coarse pass, then the fill pass.

:class:`StudyAnalysis` is a plain synchronous job: :meth:`StudyAnalysis.run` is called on the model's worker
thread (the window's workspace controller) or directly (the command line). It reports through callbacks
that receive immutable :class:`AnalysisProgress` values and :class:`InstanceUpdate` snapshots, each carrying
the request id, so a receiver can drop stale results. Cancellation is cooperative: the cancel event is
checked between batches; whatever was analysed is written to the cache, so the next run resumes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fetalviewer.workspace.backend import AnalysisBackend
from fetalviewer.workspace.cache import AnalysisCache, CacheKey
from fetalviewer.workspace.results import InstanceAnalysis
from fetalviewer.workspace.schedule import (
    batches,
    first_pass_indices,
    first_pass_stride,
    refinement_indices,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalysisTarget:
    """One instance to analyse: where it is, its frames, what the model sees and the GA pixel size.

    ``kind`` is ``"dicom"`` (a DICOM instance, frames read with :func:`fetalviewer.dicom.open_instance`) or
    ``"image"`` (a plain PNG/JPEG file: one frame). ``options`` names, as text, what differs from the
    window's defaults and changes the outputs (``"no-crop"``, ``"pixel-size-mm=0.1"``); with
    ``head_readouts_all_frames`` they are part of the cache key (:meth:`cache_identity`).
    """

    path: str
    sop_instance_uid: str
    n_frames: int
    pixel_size_mm: float | None
    ga_unavailable_reason: str | None = None
    label: str = ""
    #: (x0, y0, x1, y1) inclusive box the model sees (the single 2D tissue region), None = whole frame
    crop_box_px: tuple[int, int, int, int] | None = None
    #: where the pixel size comes from (or why there is none)
    pixel_size_note: str = ""
    #: (width, height) in pixels of the image the model sees (after the crop); None = unknown
    frame_size_px: tuple[int, int] | None = None
    #: notes carried into every frame's read-out (e.g. why a frame was not cropped)
    notes: tuple[str, ...] = ()
    #: brain sub-plane and GA for every frame, not only frames whose top plane is brain
    head_readouts_all_frames: bool = False
    kind: str = "dicom"
    #: options that change the outputs against the window's defaults (part of the cache key)
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.sop_instance_uid:
            raise ValueError("sop_instance_uid must not be empty")
        if self.n_frames < 1:
            raise ValueError(f"n_frames must be positive, got {self.n_frames}")
        if self.pixel_size_mm is not None and not self.pixel_size_mm > 0:
            raise ValueError(f"pixel_size_mm must be positive or None, got {self.pixel_size_mm}")
        if self.kind not in ("dicom", "image"):
            raise ValueError(f"kind must be 'dicom' or 'image', got {self.kind!r}")
        if self.kind == "image" and self.n_frames != 1:
            raise ValueError(f"an image target has one frame, got {self.n_frames}")
        if self.frame_size_px is not None and min(self.frame_size_px) < 1:
            raise ValueError(f"frame_size_px must be positive, got {self.frame_size_px}")
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "options", tuple(str(o) for o in self.options))

    def cache_identity(self, model_identity: str) -> str:
        """The model identity of this target's cache key: ``model_identity`` as it is for the window's
        defaults, followed by the options that change the outputs (:attr:`options`, head read-outs on
        every frame) otherwise, so results analysed with other options never mix."""
        options = list(self.options)
        if self.head_readouts_all_frames:
            options.append("head-readouts-all-frames")
        return model_identity if not options else f"{model_identity}|{json.dumps(options)}"

    def cache_key(self, model_identity: str) -> CacheKey:
        """The result cache key of this target (raises OSError when the file cannot be read)."""
        return CacheKey.for_file(self.sop_instance_uid, self.path, self.cache_identity(model_identity))


def _cropped_size(box: tuple[int, int, int, int] | None, rows: int, cols: int) -> tuple[int, int] | None:
    """(width, height) of a (rows, cols) frame after :func:`fetalviewer.model.inputs.crop_frame`."""
    if rows < 1 or cols < 1:
        return None
    if box is None:
        return cols, rows
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(cols - 1, box[2]), min(rows - 1, box[3])
    if x1 < x0 or y1 < y0:
        return cols, rows
    return x1 - x0 + 1, y1 - y0 + 1


def target_from_cine(
    cine: Any,
    *,
    crop: bool = True,
    pixel_size_mm: float | None = None,
    head_readouts_all_frames: bool = False,
) -> AnalysisTarget:
    """Build the target for a :class:`fetalviewer.dicom.CineLoop` the way the engine builds its inputs.

    Same crop and GA pixel size as :func:`fetalviewer.model.inputs.frame_inputs_from_cine`
    (:func:`~fetalviewer.model.inputs.cine_input_plan`): the frames are
    cropped to the single 2D tissue region (scanner text removed; ``crop=False`` keeps the whole frame),
    and the GA prompt's pixel size comes from that region's cm calibration when x and y agree within 1 %
    (arXiv 2502.14807, docs/fetalclip.md); ``pixel_size_mm`` (given by the user) is used only when the
    file gives none. The defaults are the window's.
    """
    from fetalviewer.model.inputs import cine_input_plan

    plan = cine_input_plan(tuple(getattr(cine, "regions", ()) or ()), crop, pixel_size_mm)
    name = str(cine.path).replace("\\", "/").rsplit("/", 1)[-1]
    rows, cols = int(getattr(cine, "rows", 0) or 0), int(getattr(cine, "columns", 0) or 0)
    return AnalysisTarget(
        path=str(cine.path),
        sop_instance_uid=cine.sop_instance_uid,
        n_frames=int(cine.n_frames),
        pixel_size_mm=plan.pixel_size_mm,
        ga_unavailable_reason=None if plan.pixel_size_mm else plan.pixel_size_note,
        label=name,
        crop_box_px=plan.crop_box_px,
        pixel_size_note=plan.pixel_size_note,
        frame_size_px=_cropped_size(plan.crop_box_px, rows, cols),
        notes=plan.notes,
        head_readouts_all_frames=head_readouts_all_frames,
        options=plan.options,
    )


def target_from_image(
    path: str | os.PathLike[str], pixel_size_mm: float | None = None, *, head_readouts_all_frames: bool = False
) -> AnalysisTarget:
    """The target for a plain image file (PNG/JPEG): one frame, not cropped, GA only with ``pixel_size_mm``
    (mm per pixel of the image). Raises :class:`~fetalviewer.errors.FetalViewerError` for an unreadable
    image. Its SOP Instance UID stand-in is ``image:`` and the absolute path."""
    from fetalviewer.model.inputs import read_image_file

    image = read_image_file(path)
    if pixel_size_mm is None:
        size, note = None, "no pixel size: plain image (give --pixel-size-mm)"
    else:
        size, note = float(pixel_size_mm), "given on the command line (--pixel-size-mm)"
    resolved = Path(path).resolve()
    return AnalysisTarget(
        path=str(Path(path)),
        sop_instance_uid=f"image:{resolved}",
        n_frames=1,
        pixel_size_mm=size,
        ga_unavailable_reason=None if size else note,
        label=resolved.name,
        pixel_size_note=note,
        frame_size_px=(int(image.shape[1]), int(image.shape[0])),
        head_readouts_all_frames=head_readouts_all_frames,
        kind="image",
        options=() if size is None else (f"pixel-size-mm={size!r}",),
    )


@dataclass(frozen=True)
class AnalysisProgress:
    """What is being analysed now (for the progress indicator)."""

    request_id: int
    phase: str  # "cache" | "first pass" | "fill" | "done" | "cancelled" | "failed"
    target_label: str
    frames_done: int
    frames_total: int
    message: str

    @property
    def fraction_0_1(self) -> float:
        return self.frames_done / self.frames_total if self.frames_total else 1.0


@dataclass(frozen=True)
class InstanceUpdate:
    """New results for one instance (a snapshot: safe to hand to another thread)."""

    request_id: int
    sop_instance_uid: str
    analysis: InstanceAnalysis
    from_cache: bool


def _default_frame_reader(target: AnalysisTarget) -> tuple[Callable[[int], np.ndarray], Callable[[], None]]:
    from fetalviewer.dicom import open_instance
    from fetalviewer.dicom.instance import STREAM_CACHE_MB

    if target.kind == "image":
        from fetalviewer.model.inputs import read_image_file

        return (lambda _index: read_image_file(target.path)), (lambda: None)
    cine = open_instance(target.path, cache_mb=STREAM_CACHE_MB)
    return cine.frame, cine.close


def load_cached_results(
    targets: Sequence[AnalysisTarget], model_identity: str, cache: AnalysisCache
) -> dict[str, InstanceAnalysis]:
    """Whatever the cache holds for ``targets`` under ``model_identity`` (no model needed, no inference)."""
    found: dict[str, InstanceAnalysis] = {}
    for target in targets:
        try:
            key = target.cache_key(model_identity)
        except OSError as exc:
            log.warning("cannot fingerprint %s for the analysis cache: %s", target.path, exc)
            continue
        cached = cache.load(key)
        if cached is not None and cached.n_frames == target.n_frames and cached.n_done:
            found[target.sop_instance_uid] = cached
    return found


class StudyAnalysis:
    """One analysis job over a study's instances (see the module docstring)."""

    def __init__(
        self,
        request_id: int,
        targets: Sequence[AnalysisTarget],
        backend: AnalysisBackend,
        cache: AnalysisCache | None = None,
        *,
        first_pass_frames: int = 12,
        batch_size: int = 4,
        cache_interval_s: float = 10.0,
        frame_reader: Callable[[AnalysisTarget], tuple[Callable[[int], np.ndarray], Callable[[], None]]]
        | None = None,
        frames: Mapping[str, Sequence[int]] | None = None,
    ) -> None:
        if not isinstance(request_id, int):
            raise TypeError(f"request_id must be an int, got {type(request_id).__name__}")
        if first_pass_frames < 1:
            raise ValueError(f"first_pass_frames must be positive, got {first_pass_frames}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.request_id = request_id
        self.targets = list(targets)
        self.backend = backend
        self.cache = cache
        self.first_pass_frames = first_pass_frames
        self.batch_size = batch_size
        self.cache_interval_s = cache_interval_s
        self.frame_reader = frame_reader or _default_frame_reader
        #: SOP Instance UID -> the 0-based frames to analyse (e.g. every 5th for a report); None = all
        self.frames: dict[str, frozenset[int]] = {}
        for target in self.targets:
            chosen = None if frames is None else frames.get(target.sop_instance_uid)
            if chosen is not None:
                bad = [int(i) for i in chosen if not 0 <= int(i) < target.n_frames]
                if bad:
                    raise ValueError(
                        f"{target.label or target.path}: frames {bad} out of range 0..{target.n_frames - 1}"
                    )
                self.frames[target.sop_instance_uid] = frozenset(int(i) for i in chosen)
        self.cancel_event = threading.Event()
        self.results: dict[str, InstanceAnalysis] = {}
        self.problems: dict[str, str] = {}
        #: SOP Instance UID -> {0-based frame: why it was skipped} (frames that could not be decoded)
        self.frame_problems: dict[str, dict[int, str]] = {}
        self._keys: dict[str, CacheKey | None] = {}
        self._readers: dict[str, tuple[Callable[[int], np.ndarray], Callable[[], None]]] = {}
        self._last_saved: dict[str, float] = {}
        self._shapes: dict[str, tuple[int, int]] = {}  # (rows, cols) the model saw, per instance

    def cancel(self) -> None:
        self.cancel_event.set()

    # --------------------------------------------------------------------------------------- run
    def run(
        self,
        on_update: Callable[[InstanceUpdate], None] | None = None,
        on_progress: Callable[[AnalysisProgress], None] | None = None,
    ) -> dict[str, InstanceAnalysis]:
        """Analyse everything (blocking); returns the results by SOP Instance UID."""
        for _ in self.iter_steps(on_update, on_progress):
            pass
        return self.results

    def iter_steps(
        self,
        on_update: Callable[[InstanceUpdate], None] | None = None,
        on_progress: Callable[[AnalysisProgress], None] | None = None,
    ) -> Iterator[None]:
        """The same work as :meth:`run`, yielding after the cache look-up and after every batch.

        A model worker shared with other features runs one step per request, so other requests (a text
        query, a segmentation) wait for one batch at most, not for the whole study.
        """
        on_update = on_update or (lambda update: None)
        on_progress = on_progress or (lambda progress: None)
        total = sum(len(self._wanted(t)) for t in self.targets)
        done_count = 0

        def progress(phase: str, target: AnalysisTarget | None, message: str) -> None:
            on_progress(
                AnalysisProgress(
                    self.request_id, phase, target.label if target else "", done_count, total, message
                )
            )

        # 1. cache
        for target in self.targets:
            analysis = self._load_cached(target)
            self.results[target.sop_instance_uid] = analysis
            if analysis.n_done:
                done_count += int(analysis.done[sorted(self._wanted(target))].sum())
                on_update(InstanceUpdate(self.request_id, target.sop_instance_uid, analysis.snapshot(), True))
        progress("cache", None, f"{done_count} of {total} frames from the cache")
        yield

        # 2. first pass over every instance, 3. fill pass
        try:
            for phase in ("first pass", "fill"):
                for target in self.targets:
                    analysis = self.results[target.sop_instance_uid]
                    if target.sop_instance_uid in self.problems:
                        continue
                    stride = first_pass_stride(target.n_frames, self.first_pass_frames)
                    order = (
                        first_pass_indices(target.n_frames, stride)
                        if phase == "first pass"
                        else refinement_indices(target.n_frames, stride)
                    )
                    wanted = self._wanted(target)
                    todo = [i for i in order if not analysis.done[i] and i in wanted]
                    for batch in batches(todo, self.batch_size):
                        if self.cancel_event.is_set():
                            self._save_all()
                            progress("cancelled", target, "analysis cancelled")
                            return
                        progress(
                            phase,
                            target,
                            f"{phase}: {target.label or target.sop_instance_uid} "
                            f"frames {batch[0] + 1}..{batch[-1] + 1} of {target.n_frames}",
                        )
                        if not self._analyze_batch(target, analysis, batch):
                            break
                        done_count += len(batch)
                        on_update(
                            InstanceUpdate(
                                self.request_id, target.sop_instance_uid, analysis.snapshot(), False
                            )
                        )
                        self._maybe_save(target, analysis)
                        yield
                    self._save(target, analysis)
            # 4. GA deferred while the plane labels were computed (see ``_complete_ga``)
            for target in self.targets:
                if self.cancel_event.is_set():
                    self._save_all()
                    progress("cancelled", target, "analysis cancelled")
                    return
                if self._ga_pending(target).size:
                    progress(
                        "GA", target, f"GA: encoding the GA prompts for {target.label or 'this instance'}"
                    )
                    yield
                    if self._complete_ga(target):
                        analysis = self.results[target.sop_instance_uid]
                        on_update(
                            InstanceUpdate(
                                self.request_id, target.sop_instance_uid, analysis.snapshot(), False
                            )
                        )
                        self._save(target, analysis)
                        yield
        finally:
            self._close_readers()
        phase = "done" if not self.problems else "done with problems"
        message = f"analysed {done_count} of {total} frames"
        if self.problems:
            message += "; " + "; ".join(f"{uid}: {why}" for uid, why in self.problems.items())
        progress(phase, None, message)

    # --------------------------------------------------------------------------------- helpers
    def _wanted(self, target: AnalysisTarget) -> frozenset[int] | range:
        return self.frames.get(target.sop_instance_uid, range(target.n_frames))

    def _new_analysis(self, target: AnalysisTarget) -> InstanceAnalysis:
        b = self.backend
        return InstanceAnalysis(
            sop_instance_uid=target.sop_instance_uid,
            n_frames=target.n_frames,
            plane_keys=tuple(b.plane_keys),
            brain_keys=tuple(b.brain_keys),
            embed_dim=int(b.embed_dim),
            ga_unavailable_reason=target.ga_unavailable_reason,
            map_size=int(getattr(b, "map_size", 16)),
        )

    def _load_cached(self, target: AnalysisTarget) -> InstanceAnalysis:
        key = None
        if self.cache is not None:
            try:
                key = target.cache_key(self.backend.identity)
            except OSError as exc:
                log.warning("cannot fingerprint %s for the analysis cache: %s", target.path, exc)
        self._keys[target.sop_instance_uid] = key
        if key is not None:
            cached = self.cache.load(key)
            if (
                cached is not None
                and cached.n_frames == target.n_frames
                and cached.plane_keys == tuple(self.backend.plane_keys)
            ):
                return cached
        return self._new_analysis(target)

    def _analyze_batch(self, target: AnalysisTarget, analysis: InstanceAnalysis, batch: list[int]) -> bool:
        """Analyse ``batch``; a frame that cannot be decoded is skipped with its reason
        (:attr:`frame_problems`), an instance that cannot be read stops with its reason (:attr:`problems`)."""
        from fetalviewer.errors import FetalViewerError, FrameDecodeError
        from fetalviewer.model.inputs import crop_frame

        uid = target.sop_instance_uid
        frames, kept = [], []
        try:
            if uid not in self._readers:
                self._readers[uid] = self.frame_reader(target)
            read = self._readers[uid][0]
            for i in batch:
                try:
                    frames.append(crop_frame(read(i), target.crop_box_px))
                except FrameDecodeError as exc:  # one corrupt frame does not lose the others
                    self.frame_problems.setdefault(uid, {})[i] = str(exc)
                    log.warning("skipped frame %d of %s: %s", i, target.path, exc)
                    continue
                kept.append(i)
        except FetalViewerError as exc:
            self.problems[uid] = str(exc)
            log.warning("cannot read frames of %s: %s", target.path, exc)
            return False
        if not kept:
            return True
        self._shapes[uid] = frames[0].shape[:2]
        if target.head_readouts_all_frames:
            out = self.backend.analyze_frames(frames, target.pixel_size_mm, head_readouts_all_frames=True)
        else:
            out = self.backend.analyze_frames(frames, target.pixel_size_mm)
        analysis.store(
            kept,
            plane_probs=out.plane_probs,
            brain_probs=out.brain_probs,
            ga_days=out.ga_days,
            embeddings=out.embeddings,
            class_maps=out.class_maps,
            embedding_norms=out.embedding_norms,
        )
        return True

    def _ga_pending(self, target: AnalysisTarget) -> np.ndarray:
        """Indices of analysed head frames of ``target`` whose GA the backend deferred (empty if none)."""
        analysis = self.results[target.sop_instance_uid]
        if not getattr(self.backend, "defer_uncached_ga", False) or target.pixel_size_mm is None:
            return np.zeros(0, int)
        if "brain" not in self.backend.plane_keys or target.sop_instance_uid in self.problems:
            return np.zeros(0, int)
        done = np.asarray(analysis.done, bool)
        top = np.argmax(np.nan_to_num(analysis.plane_probs, nan=-1.0), axis=1)
        head = top == self.backend.plane_keys.index("brain")
        if target.head_readouts_all_frames:
            head = np.ones_like(done)
        return np.flatnonzero(done & head & np.isnan(analysis.ga_days))

    def _complete_ga(self, target: AnalysisTarget) -> bool:
        """Fill the deferred GA of ``target`` from the stored embeddings (the backend encodes the GA prompts
        of its spacing string once, then reads GA exactly as for a frame analysed without deferral)."""
        from fetalviewer.errors import FetalViewerError
        from fetalviewer.model.inputs import crop_frame

        idx = self._ga_pending(target)
        if idx.size == 0:
            return False
        uid = target.sop_instance_uid
        analysis = self.results[uid]
        shape = self._shapes.get(uid)
        if shape is None and target.frame_size_px is not None:
            shape = (target.frame_size_px[1], target.frame_size_px[0])
        try:
            if shape is None:  # every frame came from the cache: read one for the size the model saw
                if uid not in self._readers:
                    self._readers[uid] = self.frame_reader(target)
                shape = crop_frame(self._readers[uid][0](int(idx[0])), target.crop_box_px).shape[:2]
        except FetalViewerError as exc:
            log.warning("cannot read a frame of %s for its GA: %s", target.path, exc)
            return False
        if target.head_readouts_all_frames:
            ga = self.backend.complete_ga(
                analysis.embeddings[idx], shape, target.pixel_size_mm, head_readouts_all_frames=True
            )
        else:
            ga = self.backend.complete_ga(analysis.embeddings[idx], shape, target.pixel_size_mm)
        analysis.ga_days[idx] = ga
        return True

    def _save(self, target: AnalysisTarget, analysis: InstanceAnalysis) -> None:
        key = self._keys.get(target.sop_instance_uid)
        if self.cache is None or key is None or analysis.n_done == 0:
            return
        try:
            self.cache.save(key, analysis)
        except OSError as exc:
            log.warning("cannot write the analysis cache for %s: %s", target.path, exc)
        self._last_saved[target.sop_instance_uid] = time.monotonic()

    def _maybe_save(self, target: AnalysisTarget, analysis: InstanceAnalysis) -> None:
        last = self._last_saved.get(target.sop_instance_uid, 0.0)
        if time.monotonic() - last >= self.cache_interval_s:
            self._save(target, analysis)

    def _save_all(self) -> None:
        for target in self.targets:
            self._save(target, self.results[target.sop_instance_uid])

    def _close_readers(self) -> None:
        for _read, close in self._readers.values():
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - closing must never mask the result
                log.debug("closing a frame reader failed: %s", exc)
        self._readers.clear()
