"""The default head segmentation model: the project's own small U-Net trained on HC18.

It works out of the box, without the FetalCLIP weights. Files: ``weights/default_head/hc18_unet.json``
(architecture, preprocessing, training recipe, held-out evaluation, sha256 of the weights) and
``hc18_unet.safetensors``; reproduced by ``tools/train_default_head.py`` and evaluated by
``tools/eval_default_head.py``. Training data: HC18 (van den Heuvel et al., PLoS ONE 13(8):e0200412,
2018; doi:10.5281/zenodo.1327317; CC BY 4.0).

Use::

    seg = segment_head(frame_uint8)                 # whole frame
    seg = segment_head(frame_uint8, region=region)  # DICOM: crop to the 2D tissue region first

``region`` is any object with inclusive pixel bounds ``x0, y0, x1, y1`` (an ``UltrasoundRegion``, e.g.
from ``fetalviewer.dicom.calibration.single_tissue_region``); the model then sees only that box and the
returned mask is pasted back into full-frame pixels, so callers always get ORIGINAL frame coordinates.
Without ``region`` the whole frame is used (HC18-like images, PNG screenshots). Measuring (contour,
ellipse fit, HC) is done by :mod:`fetalviewer.analysis`, not here.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fetalviewer.analysis.geometry import InputMapping
from fetalviewer.errors import WeightsMismatch, WeightsNotFound
from fetalviewer.model.hashing import sha256_uncached
from fetalviewer.model.heads.letterbox import map_to_frame, square_mapping, to_model_input
from fetalviewer.model.heads.unet import UNetSpec, build_unet
from fetalviewer.paths import bundled_weights_dir

DEFAULT_HEAD_META = "hc18_unet.json"


def default_head_dir() -> Path:
    return bundled_weights_dir() / "default_head"


@dataclass(frozen=True, eq=False)
class HeadSegmentation:
    """A head mask in original frame pixels with its provenance.

    ``mask``: uint8 0/1 ``(rows, cols)``; ``probability``: float32 ``(rows, cols)`` model probability of
    "skull region" (bilinearly resampled from the model grid). ``confidence_0_1`` is the mean of that
    probability over the mask pixels: a heuristic of how sure the model is about the region it drew,
    NOT a calibrated probability that the measurement is right. ``crop_box`` is the inclusive
    ``(x0, y0, x1, y1)`` box the model saw (the whole frame when no region was given).
    """

    mask: np.ndarray
    probability: np.ndarray
    confidence_0_1: float
    model_name: str
    model_version: str
    weights_sha256: str
    crop_box: tuple[int, int, int, int]
    source: str = "default-head"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.mask, np.ndarray) or self.mask.ndim != 2:
            raise TypeError("mask must be a 2-D numpy array")
        if not isinstance(self.probability, np.ndarray) or self.probability.shape != self.mask.shape:
            raise ValueError("probability must be an array with the shape of mask")
        if not 0.0 <= float(self.confidence_0_1) <= 1.0:
            raise ValueError(f"confidence_0_1 must be in [0, 1], got {self.confidence_0_1!r}")

    @property
    def area_px(self) -> int:
        return int(self.mask.sum())

    @property
    def found(self) -> bool:
        """True when the model drew any head region at all."""
        return self.area_px > 0

    def provenance(self) -> dict:
        return {
            "source": self.source,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "weights_sha256": self.weights_sha256,
        }


def to_gray_uint8(image: np.ndarray) -> np.ndarray:
    """``(rows, cols)`` uint8 as is; ``(rows, cols, 3)`` RGB to luma (ITU-R BT.601 weights)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"image must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] in (3, 4):
        import cv2

        return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    raise ValueError(f"image must be (rows, cols) or (rows, cols, 3), got shape {image.shape}")


class DefaultHeadModel:
    """The loaded default head model (one per process, see :func:`load_default_head`)."""

    def __init__(self, meta_path: str | Path) -> None:
        meta_path = Path(meta_path)
        if not meta_path.is_file():
            raise WeightsNotFound(f"{meta_path}: default head model description not found")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            weights_path = meta_path.parent / meta["weights_file"]
            spec = UNetSpec.from_dict(meta["architecture"])
            self.input_size = int(meta["preprocessing"]["input_size"])
            norm = meta["preprocessing"]["normalisation"]
            self.norm_mean, self.norm_std = float(norm["mean"]), float(norm["std"])
            self.threshold = float(meta["output"]["threshold_prob"])
            self.name, self.version = str(meta["name"]), str(meta["version"])
            expected_sha = str(meta["weights_sha256"])
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsMismatch(f"{meta_path}: not a valid default head description ({exc})") from exc
        if not weights_path.is_file():
            raise WeightsNotFound(f"{weights_path}: default head weights not found")
        self.weights_sha256 = sha256_uncached(weights_path)
        if self.weights_sha256 != expected_sha:
            raise WeightsMismatch(
                f"{weights_path}: sha256 {self.weights_sha256[:12]}... does not match "
                f"{meta_path.name} ({expected_sha[:12]}...); the file was changed or corrupted"
            )
        if self.input_size % spec.input_multiple:
            raise WeightsMismatch(
                f"{meta_path}: input_size {self.input_size} is not a multiple of {spec.input_multiple}"
            )
        from safetensors.torch import load_file

        self.meta = meta
        self.module = build_unet(spec)
        try:
            self.module.load_state_dict(load_file(str(weights_path)), strict=True)
        except RuntimeError as exc:
            raise WeightsMismatch(f"{weights_path}: weights do not fit the described U-Net ({exc})") from exc
        self.module.eval()

    def predict_probability(self, gray: np.ndarray, mapping: InputMapping) -> np.ndarray:
        """Model probability on its own input grid for a gray uint8 frame cropped/padded by ``mapping``."""
        import torch

        x = to_model_input(gray, mapping, "area").astype(np.float32) / 255.0
        x = (x - self.norm_mean) / self.norm_std
        with torch.inference_mode():
            logits = self.module(torch.from_numpy(x)[None, None])
        return torch.sigmoid(logits)[0, 0].numpy().astype(np.float32)

    def mapping_for(self, frame_shape: tuple[int, ...], region: object | None = None) -> InputMapping:
        """The crop/pad/resize this model applies to a frame (cropped to ``region`` when given)."""
        rows, cols = int(frame_shape[0]), int(frame_shape[1])
        box = None
        if region is not None:
            x0, y0 = max(0, int(region.x0)), max(0, int(region.y0))
            x1, y1 = min(cols - 1, int(region.x1)), min(rows - 1, int(region.y1))
            if x1 - x0 < 15 or y1 - y0 < 15:
                raise ValueError(f"region box {(x0, y0, x1, y1)} is too small or outside the frame")
            box = (x0, y0, x1, y1)
        return square_mapping((rows, cols), self.input_size, box)

    def segment(self, image: np.ndarray, region: object | None = None) -> HeadSegmentation:
        gray = to_gray_uint8(image)
        mapping = self.mapping_for(gray.shape, region)
        prob_model = self.predict_probability(gray, mapping)
        probability = np.clip(map_to_frame(prob_model, mapping, gray.shape), 0.0, 1.0)
        mask = (probability > self.threshold).astype(np.uint8)
        confidence = float(probability[mask > 0].mean()) if mask.any() else 0.0
        m = mapping
        return HeadSegmentation(
            mask=mask,
            probability=probability,
            confidence_0_1=min(1.0, max(0.0, confidence)),
            model_name=self.name,
            model_version=self.version,
            weights_sha256=self.weights_sha256,
            crop_box=(m.crop_x0, m.crop_y0, m.crop_x0 + m.crop_width - 1, m.crop_y0 + m.crop_height - 1),
        )


@functools.lru_cache(maxsize=2)
def _cached_model(meta_path: str) -> DefaultHeadModel:
    return DefaultHeadModel(meta_path)


def load_default_head(meta_path: str | Path | None = None) -> DefaultHeadModel:
    """The default head model (cached per file); raises WeightsNotFound / WeightsMismatch."""
    path = Path(meta_path) if meta_path is not None else default_head_dir() / DEFAULT_HEAD_META
    return _cached_model(str(path.resolve()))


def segment_head(
    image_uint8: np.ndarray, region: object | None = None, model: DefaultHeadModel | None = None
) -> HeadSegmentation:
    """Segment the fetal skull region of one frame; the mask is in ORIGINAL frame pixels.

    ``region``: optional box (``x0, y0, x1, y1`` inclusive, e.g. the single 2D tissue
    ``UltrasoundRegion`` of a DICOM frame) to crop to before the model runs.
    """
    return (model or load_default_head()).segment(image_uint8, region=region)
