"""Installed FetalCLIP-feature heads at run time: segmentation, plane probe, CHD probe.

Each class loads a head file (:mod:`fetalviewer.model.heads.headfile`), refuses it when it was
trained for another backbone (``WeightsMismatch`` naming the file), and predicts from a
:class:`fetalviewer.model.loader.LoadedModel` or from embeddings the engine already computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fetalviewer.model.hashing import sha256_uncached
from fetalviewer.model.heads.backbone import BackboneSpec, block_features
from fetalviewer.model.heads.default_head import HeadSegmentation, to_gray_uint8
from fetalviewer.model.heads.headfile import load_head
from fetalviewer.model.heads.letterbox import map_to_frame, square_mapping
from fetalviewer.model.heads.probes import CHD_CLASSES, build_linear, pool_clip, softmax_np
from fetalviewer.model.heads.seg_decoder import SegDecoderSpec, build_seg_decoder, resize_token_maps


class _Head:
    kind = ""

    def __init__(self, path: str | Path, backbone: BackboneSpec) -> None:
        self.path = Path(path)
        self.header, state = load_head(self.path, kind=self.kind, backbone=backbone)
        self.sha256 = sha256_uncached(self.path)
        self.module = self._build()
        self.module.load_state_dict(state, strict=True)
        self.module.eval()

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.header.class_names

    def _build(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def provenance(self) -> dict:
        return {
            "head_file": str(self.path),
            "head_sha256": self.sha256,
            "kind": self.kind,
            "validation": dict(self.header.validation),
            "created_utc": self.header.created_utc,
        }


class SegHead(_Head):
    """The UNETR-style decoder on frozen FetalCLIP features (one foreground class)."""

    kind = "seg"

    def _build(self):
        self.spec = SegDecoderSpec.from_dict(self.header.architecture)
        self.blocks = tuple(int(b) for b in self.header.architecture["blocks"])
        return build_seg_decoder(self.spec)

    def predict_logits(self, loaded, pixels):
        """[B, 3, 224, 224] preprocessed pixels -> [B, n_classes, 224, 224] logits (float32 tensor)."""
        import torch

        maps = resize_token_maps(block_features(loaded, pixels, self.blocks), self.spec.grid)
        with torch.inference_mode():
            return self.module(maps, pixels.float().cpu())

    def segment(self, loaded, image: np.ndarray, region: object | None = None) -> HeadSegmentation:
        """Mask of the head's structure in ORIGINAL frame pixels (``region``: optional crop box)."""
        import torch

        from fetalviewer.model.preprocess import preprocess_batch

        to_gray_uint8(image)  # same input checks as the default head (uint8, 2-D or RGB)
        rows, cols = image.shape[:2]
        box = None
        if region is not None:
            box = (
                max(0, int(region.x0)),
                max(0, int(region.y0)),
                min(cols - 1, int(region.x1)),
                min(rows - 1, int(region.y1)),
            )
        mapping = square_mapping((rows, cols), self.spec.input_size, box)
        crop = image[
            mapping.crop_y0 : mapping.crop_y0 + mapping.crop_height,
            mapping.crop_x0 : mapping.crop_x0 + mapping.crop_width,
        ]
        logits = self.predict_logits(loaded, preprocess_batch([np.ascontiguousarray(crop)]))
        prob_model = torch.sigmoid(logits)[0, 0].numpy()
        probability = np.clip(map_to_frame(prob_model, mapping, (rows, cols)), 0.0, 1.0)
        mask = (probability > 0.5).astype(np.uint8)
        m = mapping
        return HeadSegmentation(
            mask=mask,
            probability=probability,
            confidence_0_1=float(probability[mask > 0].mean()) if mask.any() else 0.0,
            model_name=f"fetalclip-seg-head:{self.path.name}",
            model_version=self.header.created_utc or "unknown",
            weights_sha256=self.sha256,
            crop_box=(m.crop_x0, m.crop_y0, m.crop_x0 + m.crop_width - 1, m.crop_y0 + m.crop_height - 1),
            source="fetalclip-seg-head",
        )


class PlaneProbe(_Head):
    """``Linear(embed_dim, C)`` on un-normalised image embeddings."""

    kind = "plane"

    def _build(self):
        return build_linear(self.header.backbone.embed_dim, len(self.class_names))

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """``[N, embed_dim]`` un-normalised embeddings -> ``[N, C]`` class probabilities."""
        import torch

        emb = np.asarray(embeddings, dtype=np.float32).reshape(-1, self.header.backbone.embed_dim)
        with torch.inference_mode():
            return softmax_np(self.module(torch.from_numpy(emb)).numpy())


@dataclass(frozen=True)
class ChdScore:
    """The CHD probe's output for one clip: a prompt for expert review, never a diagnosis."""

    prob_abnormal_0_1: float
    threshold_0_1: float
    n_frames: int
    head_file: str
    head_sha256: str

    @property
    def review_suggested(self) -> bool:
        return self.prob_abnormal_0_1 >= self.threshold_0_1

    def text(self) -> str:
        if self.review_suggested:
            return (
                f"CHD review suggested (score {self.prob_abnormal_0_1:.2f} >= {self.threshold_0_1:.2f}, "
                f"{self.n_frames} heart frames): please have the heart reviewed by an expert"
            )
        return f"no CHD review flag (score {self.prob_abnormal_0_1:.2f} < {self.threshold_0_1:.2f})"


class ChdProbe(_Head):
    """Clip-level CHD probe: ``Linear(2 x embed_dim, 2)`` on mean+max pooled heart-frame embeddings."""

    kind = "chd"

    def _build(self):
        if tuple(self.class_names) != CHD_CLASSES:
            from fetalviewer.errors import WeightsMismatch

            raise WeightsMismatch(
                f"{self.path}: CHD head classes must be {CHD_CLASSES}, got {self.class_names}"
            )
        return build_linear(2 * self.header.backbone.embed_dim, 2)

    @property
    def threshold_0_1(self) -> float:
        return float(self.header.architecture.get("threshold_0_1", 0.5))

    def score(self, heart_frame_embeddings: np.ndarray) -> ChdScore:
        """Score one clip from the un-normalised embeddings ``[N, embed_dim]`` of its heart frames."""
        import torch

        pooled = pool_clip(heart_frame_embeddings)
        if pooled.shape[0] != 2 * self.header.backbone.embed_dim:
            raise ValueError(
                f"embeddings have width {pooled.shape[0] // 2}, head expects {self.header.backbone.embed_dim}"
            )
        with torch.inference_mode():
            prob = softmax_np(self.module(torch.from_numpy(pooled)[None]).numpy())[0, 1]
        return ChdScore(
            float(prob),
            self.threshold_0_1,
            int(np.asarray(heart_frame_embeddings).shape[0]),
            str(self.path),
            self.sha256,
        )
