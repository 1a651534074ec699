"""The workspace's model backend on the zero-shot engine (:mod:`fetalviewer.model`; FetalCLIP or MobileFetalCLIP).

Per batch of frames (already cropped to the tissue region like the engine's :mod:`fetalviewer.model.inputs`),
ONE vision forward pass gives everything the workspace shows:

* the image embedding (``LoadedModel.encode_image``, as the engine computes it; its L2 norm is kept so the
  un-normalised embedding, the input of the CHD head, can be recovered) -> the engine's read-outs
  (:meth:`fetalviewer.model.engine.FetalClipEngine.predict_embeddings`: zero-shot plane and brain sub-plane
  probabilities, and the GA read-out on head frames with a pixel size; arXiv 2502.14807, docs/fetalclip.md), with the
  engine's on-disk text-embedding cache;
* the patch features projected into the joint space (``LoadedModel.encode_image_with_patches``, the same
  forward pass) compared with every plane class embedding: the heat-map maps
  (:mod:`fetalviewer.workspace.heatmap`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence

import numpy as np

from fetalviewer.workspace.backend import FrameBatchOutput

#: Bumped when this backend's outputs change meaning (part of the cache identity).
BACKEND_VERSION = "workspace-fetalclip-2"


def _prompt_hash() -> str:
    from fetalviewer.model.planes import _ga_spec, brain_subplane_prompts, plane_prompts

    payload = json.dumps(
        [plane_prompts(), brain_subplane_prompts(), list(_ga_spec()[2])], ensure_ascii=False, default=list
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def identity_for(weights_sha256: str, model_name: str) -> str:
    """The cache identity of this backend for given weights, without loading the model."""
    return "|".join([BACKEND_VERSION, weights_sha256, model_name, _prompt_hash()])


class FetalClipBackend:
    """:class:`~fetalviewer.workspace.backend.AnalysisBackend` on a :class:`fetalviewer.model.loader.LoadedModel`."""

    def __init__(self, loaded, engine=None, *, defer_uncached_ga: bool = False) -> None:
        from fetalviewer.model.engine import FetalClipEngine
        from fetalviewer.model.planes import BRAIN_SUBPLANE_CLASSES, PLANE_CLASSES

        if not hasattr(loaded, "model") or not hasattr(loaded, "encode_text"):
            raise TypeError(f"loaded must be a LoadedModel, got {type(loaded).__name__}")
        self.loaded = loaded
        self.engine = engine if engine is not None else FetalClipEngine(loaded)
        self.plane_keys: tuple[str, ...] = tuple(PLANE_CLASSES)
        self.brain_keys: tuple[str, ...] = tuple(BRAIN_SUBPLANE_CLASSES)
        self.embed_dim = int(loaded.embed_dim)
        #: side of the heat-map grid: 16 for ViT-L/14 at 224 px, 8 for FastViT MCi0 (stride 32) at 256 px
        self.map_size = int(loaded.patch_grid)
        self.identity = identity_for(loaded.info.weights_sha256, loaded.model_name)
        #: side of the square model input in pixels (the GA prompt's pixel spacing is per model pixel)
        self.input_px = int(loaded.input_px)
        #: The window's setting: a frame whose GA text embeddings are not cached yet gets its GA later
        #: (:meth:`complete_ga`, run by the study analysis after every frame has its plane labels).
        self.defer_uncached_ga = bool(defer_uncached_ga)
        self.forward_calls = 0
        self.frames_analysed = 0
        self._lock = threading.Lock()

    def embed_text(self, text: str) -> np.ndarray:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("text must be a non-empty string")
        with self._lock:
            return np.asarray(self.engine.embed_text(text.strip()), dtype=np.float32)

    def _forward(self, frames: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(normalised embeddings [N, D], their norms before normalising [N], normalised projected patch
        tokens [N, S*S, D])."""
        import torch
        import torch.nn.functional as F

        pixels = self.loaded.preprocess_batch(frames)
        # the same call (device, autocast) as the engine's embed_images
        pooled, patches = self.loaded.encode_image_with_patches(pixels)
        with torch.inference_mode():
            norms = torch.linalg.vector_norm(pooled, dim=-1).cpu().numpy()
            pooled = F.normalize(pooled, dim=-1).cpu().numpy()
            patches = F.normalize(patches, dim=-1).cpu().numpy()
        self.forward_calls += 1
        self.frames_analysed += len(frames)
        return pooled, norms, patches

    @staticmethod
    def _inputs(frames: Sequence[np.ndarray], pixel_size_mm: float | None) -> list:
        from fetalviewer.model.inputs import FrameInput

        return [
            FrameInput(
                source="workspace",
                frame_index=i,
                image=frame,
                pixel_size_mm=pixel_size_mm,
                pixel_size_note="instance calibration" if pixel_size_mm else "no pixel size",
            )
            for i, frame in enumerate(frames)
        ]

    def complete_ga(
        self,
        embeddings: np.ndarray,
        frame_shape: tuple[int, int],
        pixel_size_mm: float,
        *,
        head_readouts_all_frames: bool = False,
    ) -> np.ndarray:
        """GA days ``[n]`` (NaN on frames that are not head views) of frames analysed with the GA deferred.

        ``embeddings`` are their stored L2-normalised embeddings and ``frame_shape`` the (rows, cols) the model
        saw; the read-out is the engine's, so the values equal those of a run without deferral. Encodes the
        spacing string's GA prompts when they are not cached (blocking: run it on the model's worker).
        """
        from fetalviewer.model.engine import AnalyzeOptions

        emb = np.asarray(embeddings, dtype=np.float32)
        blank = np.zeros(tuple(int(v) for v in frame_shape[:2]), np.uint8)  # only its size is read
        with self._lock:
            predictions = self.engine.predict_embeddings(
                self._inputs([blank] * len(emb), pixel_size_mm),
                emb,
                AnalyzeOptions(head_readouts_for_all_frames=head_readouts_all_frames),
            )
        return np.array([np.nan if p.ga_days is None else p.ga_days for p in predictions], np.float32)

    def analyze_frames(
        self, frames: Sequence[np.ndarray], pixel_size_mm: float | None, *, head_readouts_all_frames: bool = False
    ) -> FrameBatchOutput:
        from fetalviewer.model.engine import AnalyzeOptions

        if not frames:
            raise ValueError("frames: need at least one frame")
        options = AnalyzeOptions(
            defer_uncached_ga=self.defer_uncached_ga, head_readouts_for_all_frames=head_readouts_all_frames
        )
        with self._lock:
            emb, norms, patches = self._forward(frames)
            predictions = self.engine.predict_embeddings(self._inputs(frames, pixel_size_mm), emb, options)
            plane_emb = np.asarray(self.engine.plane_class_embeddings(), dtype=np.float32)
        n = len(frames)
        plane_probs = np.array([[p.plane_probs[k] for k in self.plane_keys] for p in predictions], np.float32)
        brain_probs = np.full((n, len(self.brain_keys)), np.nan, np.float32)
        ga = np.full(n, np.nan, np.float32)
        for i, p in enumerate(predictions):
            if p.brain_subplane_probs is not None:
                brain_probs[i] = [p.brain_subplane_probs[k] for k in self.brain_keys]
            if p.ga_days is not None:
                ga[i] = p.ga_days
        side = int(round(patches.shape[1] ** 0.5))
        class_maps = (patches @ plane_emb.T).transpose(0, 2, 1).reshape(n, -1, side, side)
        return FrameBatchOutput(
            embeddings=emb.astype(np.float32),
            plane_probs=plane_probs,
            brain_probs=brain_probs,
            ga_days=ga,
            class_maps=class_maps.astype(np.float32),
            embedding_norms=norms.astype(np.float32),
        )
