"""Plain result records of the FetalCLIP engine: one :class:`FramePrediction` per image/frame, and
:class:`ModelInfo` describing the weights, device and precision that produced them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from fetalviewer.analysis.estimate import format_weeks_days
from fetalviewer.model.planes import BRAIN_SUBPLANE_CLASSES, PLANE_CLASSES, PLANE_DISPLAY_NAMES

FETALCLIP_LICENCE = "CC BY-NC 4.0"


def _check_probs(name: str, probs: dict[str, float] | None, keys: tuple[str, ...]) -> dict[str, float] | None:
    if probs is None:
        return None
    if not isinstance(probs, dict):
        raise TypeError(f"{name} must be a dict of class key -> probability")
    if tuple(probs) != keys:
        raise ValueError(f"{name} keys must be {list(keys)} in that order, got {list(probs)}")
    out = {}
    for key, value in probs.items():
        v = float(value)
        if not (0.0 <= v <= 1.0) or math.isnan(v):
            raise ValueError(f"{name}[{key!r}] must lie in [0, 1], got {value!r}")
        out[key] = v
    return out


@dataclass(frozen=True)
class ModelInfo:
    """Which model and weights produced a result, with which architecture config, device and precision.

    ``model_name`` is the family ("FetalCLIP" or "MobileFetalCLIP"); ``description`` says what the
    checkpoint holds, e.g. "MobileFetalCLIP (FastViT MCi0, 75 M parameters)".
    """

    weights_path: str
    weights_size_bytes: int
    weights_sha256: str
    config_name: str
    device: str
    dtype: str
    licence: str = FETALCLIP_LICENCE
    config_path: str | None = None
    model_name: str = "FetalCLIP"
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.weights_size_bytes, int) or self.weights_size_bytes < 0:
            raise ValueError("weights_size_bytes must be a non-negative int")
        if len(self.weights_sha256) != 64:
            raise ValueError("weights_sha256 must be a 64-character hex digest")
        if not isinstance(self.model_name, str) or not self.model_name:
            raise ValueError("model_name must be a non-empty string")

    @property
    def output_label(self) -> str:
        """How values this model produced are labelled: "MobileFetalCLIP zero-shot"."""
        return f"{self.model_name} zero-shot"

    @property
    def algorithm(self) -> tuple[str, str, str]:
        """(Algorithm Name, Algorithm Version, Algorithm Parameters) for DICOM TID 4019 (PS3.16): the version
        names the config and the first 16 hex digits of the weights sha256 (Algorithm Version is a
        64-character LO); the parameter carries the full weights sha256."""
        return (
            self.output_label,
            f"{self.config_name} weights sha256 {self.weights_sha256[:16]}",
            f"weights sha256 {self.weights_sha256}",
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        return cls(**data)


@dataclass(frozen=True)
class FramePrediction:
    """The model's read-outs for one image or one frame of a cine loop.

    ``plane_probs`` is keyed by the reference class names (:data:`PLANE_CLASSES`); the brain sub-plane
    probabilities and the GA are given for head (brain) frames only, otherwise None with a reason.
    ``pixel_spacing_mm`` is the original-image pixel size used for GA, ``ga_pixel_spacing`` the
    formatted per-model-pixel spacing written into the GA prompts.
    """

    source: str
    frame_index: int | None
    plane_probs: dict[str, float]
    top_plane: str
    top_prob_0_1: float
    brain_subplane_probs: dict[str, float] | None = None
    ga_days: int | None = None
    ga_unavailable_reason: str | None = None
    pixel_spacing_mm: float | None = None
    ga_pixel_spacing: str | None = None
    crop_box_px: tuple[int, int, int, int] | None = None
    model: str = "FetalCLIP zero-shot"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source:
            raise ValueError("source must be a non-empty string")
        if self.frame_index is not None and (not isinstance(self.frame_index, int) or self.frame_index < 0):
            raise ValueError(f"frame_index must be None or a non-negative int, got {self.frame_index!r}")
        object.__setattr__(self, "plane_probs", _check_probs("plane_probs", self.plane_probs, PLANE_CLASSES))
        object.__setattr__(
            self,
            "brain_subplane_probs",
            _check_probs("brain_subplane_probs", self.brain_subplane_probs, BRAIN_SUBPLANE_CLASSES),
        )
        if self.top_plane not in PLANE_CLASSES:
            raise ValueError(f"top_plane must be one of {list(PLANE_CLASSES)}, got {self.top_plane!r}")
        if self.ga_days is None and not self.ga_unavailable_reason:
            raise ValueError("ga_unavailable_reason is required when ga_days is None")
        if self.ga_days is not None and not isinstance(self.ga_days, int):
            raise TypeError("ga_days must be an int number of days")
        if self.crop_box_px is not None:
            object.__setattr__(self, "crop_box_px", tuple(int(v) for v in self.crop_box_px))
        object.__setattr__(self, "notes", tuple(self.notes))

    @property
    def top_plane_display(self) -> str:
        return PLANE_DISPLAY_NAMES[self.top_plane]

    @property
    def ga_weeks_days(self) -> str | None:
        """The GA as people read it (``"21w 3d"``, :func:`fetalviewer.analysis.estimate.format_weeks_days`)."""
        return None if self.ga_days is None else format_weeks_days(self.ga_days)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["crop_box_px"] = list(self.crop_box_px) if self.crop_box_px is not None else None
        data["notes"] = list(self.notes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FramePrediction:
        data = dict(data)
        if data.get("crop_box_px") is not None:
            data["crop_box_px"] = tuple(data["crop_box_px"])
        data["notes"] = tuple(data.get("notes", ()))
        return cls(**data)
