"""The zero-shot engine (FetalCLIP or MobileFetalCLIP): image embeddings -> plane, brain sub-plane and GA
read-outs per frame. Both models use the same read-outs; the preprocessing and the input side in the GA
spacing string are the loaded model's own (224 px for FetalCLIP, 256 px for MobileFetalCLIP).

Synchronous and single-threaded on purpose: :class:`~fetalviewer.model.service.InferenceService` runs it on
its one worker thread; the command line calls it directly. Read-outs follow :mod:`fetalviewer.model.readout`
(the FetalCLIP reference evaluation); text embeddings come from the on-disk :class:`TextEmbeddingCache`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fetalviewer.model import readout
from fetalviewer.model.inputs import FrameInput
from fetalviewer.model.planes import (
    BRAIN_SUBPLANE_CLASSES,
    HEAD_PLANE,
    PLANE_CLASSES,
    brain_subplane_prompts,
    plane_prompts,
)
from fetalviewer.model.results import FramePrediction
from fetalviewer.model.text_cache import TextEmbeddingCache

#: ``ga_unavailable_reason`` of a frame whose GA waits for its spacing string's text embeddings.
GA_DEFERRED_REASON = "GA pending: the text embeddings for this pixel spacing are being computed"


@dataclass(frozen=True)
class AnalyzeOptions:
    """Per-request options.

    ``head_readouts_for_all_frames``: brain sub-plane and GA for every frame, not only for frames whose top
    plane is ``brain`` (the reference GA evaluation ran on head images only).

    ``defer_uncached_ga``: when the GA text embeddings of a frame's pixel-spacing string are not cached yet
    (875 prompts: about a minute for MobileFetalCLIP and several for FetalCLIP on a CPU), leave that frame's
    GA out (:data:`GA_DEFERRED_REASON`) instead of computing them now, so the plane labels are not held back;
    the caller completes the GA later from the embeddings (:meth:`FetalClipEngine.predict_embeddings` again).
    """

    head_readouts_for_all_frames: bool = False
    batch_size: int | None = None  # None: the service's default for the device
    defer_uncached_ga: bool = False

    def __post_init__(self) -> None:
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise ValueError(f"batch_size must be None or a positive int, got {self.batch_size!r}")


class FetalClipEngine:
    """Read-outs of one loaded model; text embeddings cached per weights file and prompt set."""

    def __init__(self, loaded, text_cache: TextEmbeddingCache | None = None) -> None:
        self.loaded = loaded
        self.text_cache = text_cache if text_cache is not None else TextEmbeddingCache(loaded)
        self._plane_emb: np.ndarray | None = None
        self._brain_emb: np.ndarray | None = None

    @property
    def info(self):
        return self.loaded.info

    # text side -----------------------------------------------------------------------------------
    def _class_emb(self, prompts: dict) -> np.ndarray:
        per_class = self.text_cache.class_prompt_embeddings(prompts)
        return np.stack([readout.l2_normalize(readout.l2_normalize(e).mean(axis=0)) for e in per_class])

    def plane_class_embeddings(self) -> np.ndarray:
        """[9, D] class embeddings in :data:`PLANE_CLASSES` order."""
        if self._plane_emb is None:
            self._plane_emb = self._class_emb(plane_prompts())
        return self._plane_emb

    def brain_class_embeddings(self) -> np.ndarray:
        """[3, D] brain sub-plane class embeddings."""
        if self._brain_emb is None:
            self._brain_emb = self._class_emb(brain_subplane_prompts())
        return self._brain_emb

    def ga_template_means(self, pixel_spacing: str) -> np.ndarray:
        return self.text_cache.ga_template_means(pixel_spacing)

    def embed_text(self, text: str) -> np.ndarray:
        """[D] L2-normalised embedding of a free-text query (text search over frames; cached)."""
        return self.text_cache.prompt_embeddings([text])[0]

    # image side ----------------------------------------------------------------------------------
    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """[N, D] float32 L2-normalised image embeddings of uint8 frames (reference preprocessing)."""
        pixels = self.loaded.preprocess_batch(images)
        return self.loaded.encode_image(pixels).cpu().numpy().astype(np.float32)

    def predict(
        self, inputs: Sequence[FrameInput], options: AnalyzeOptions = AnalyzeOptions()
    ) -> list[FramePrediction]:
        out: list[FramePrediction] = []
        batch = options.batch_size or 8
        for start in range(0, len(inputs), batch):
            chunk = list(inputs[start : start + batch])
            out.extend(self.predict_embeddings(chunk, self.embed_images([f.image for f in chunk]), options))
        return out

    def predict_embeddings(
        self, inputs: Sequence[FrameInput], embeddings: np.ndarray, options: AnalyzeOptions = AnalyzeOptions()
    ) -> list[FramePrediction]:
        """Read-outs for frames whose image embeddings are known (e.g. from the service's batches)."""
        if len(inputs) != len(embeddings):
            raise ValueError(f"{len(inputs)} inputs but {len(embeddings)} embeddings")
        plane = readout.zero_shot_probs(embeddings, self.plane_class_embeddings())
        brain = readout.zero_shot_probs(embeddings, self.brain_class_embeddings())
        results = []
        for i, item in enumerate(inputs):
            top = int(np.argmax(plane[i]))
            top_plane = PLANE_CLASSES[top]
            head = options.head_readouts_for_all_frames or top_plane == HEAD_PLANE
            brain_probs = dict(zip(BRAIN_SUBPLANE_CLASSES, brain[i].tolist(), strict=True)) if head else None
            ga_days, reason, spacing = None, None, None
            if not head:
                reason = f"not a head view (top plane: {top_plane}); GA is read from brain frames only"
            elif item.pixel_size_mm is None:
                reason = item.pixel_size_note
            else:
                spacing = readout.ga_spacing_string(
                    item.width_px, item.height_px, item.pixel_size_mm, self.loaded.input_px
                )
                if options.defer_uncached_ga and not self.text_cache.has_ga_template_means(spacing):
                    reason = GA_DEFERRED_REASON
                else:
                    dots = readout.ga_dot_products(embeddings[i], self.ga_template_means(spacing))[0]
                    ga_days = readout.ga_days_from_index(readout.ga_index_from_dots(dots))
            notes = list(item.notes)
            if item.pixel_size_mm is not None:
                notes.append(f"pixel size {item.pixel_size_mm:.4f} mm: {item.pixel_size_note}")
            results.append(
                FramePrediction(
                    source=item.source,
                    frame_index=item.frame_index,
                    plane_probs=dict(zip(PLANE_CLASSES, plane[i].tolist(), strict=True)),
                    top_plane=top_plane,
                    top_prob_0_1=float(plane[i, top]),
                    brain_subplane_probs=brain_probs,
                    ga_days=ga_days,
                    ga_unavailable_reason=reason,
                    pixel_spacing_mm=item.pixel_size_mm,
                    ga_pixel_spacing=spacing,
                    crop_box_px=item.crop_box_px,
                    model=self.info.output_label,
                    notes=tuple(notes),
                )
            )
        return results

    def rank_by_text(self, text: str, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices of ``embeddings`` by decreasing similarity to ``text`` and the 100 x cos scores."""
        scores = readout.LOGIT_SCALE * readout.l2_normalize(np.atleast_2d(embeddings)) @ self.embed_text(text)
        return np.argsort(-scores, kind="stable"), scores


__all__ = ["GA_DEFERRED_REASON", "AnalyzeOptions", "FetalClipEngine"]
