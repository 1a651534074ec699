"""Model input preprocessing, exactly as the reference zero-shot evaluations of FetalCLIP and MobileFetalCLIP.

1. PIL image; RGBA -> RGB; grayscale ``L`` stays ``L`` until step 3;
2. zero-pad to a square of side max(W, H), pasting at ((max-W)//2, (max-H)//2);
3. open_clip's eval transform: Pillow resize to the input size (bicubic, antialiased, unless the config
   says otherwise), CenterCrop (a no-op on a square), RGB, ``ToTensor`` (/255), normalisation.

The input size, mean, std and interpolation are a :class:`PreprocessSpec`, read from the model config's
open_clip ``preprocess_cfg`` block when it has one (:meth:`PreprocessSpec.from_config`); without one, the
FetalCLIP defaults apply: the config's image size, CLIP normalisation (Radford et al. 2021), bicubic.
MobileFetalCLIP (arXiv 2603.05421) is evaluated at 256 px with the ImageNet mean/std; its bundled config
says so in its ``preprocess_cfg``.

:func:`preprocess_batch` runs steps 1-3 per image in Pillow (the resize must be Pillow's) and does the
float conversion and normalisation once for the whole batch with the same float32 operations as
torchvision, so its tensor is bit-identical to the per-image path.

Modes beyond the reference's 8-bit L/RGB(A) (a decision, documented here): ``P`` -> RGB, ``LA`` -> L,
16-bit/32-bit integer and float images are scaled linearly from their min..max to 0..255 ``L``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

MODEL_INPUT_PX = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_INTERPOLATIONS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}


def _triple(name: str, value: Any, source: str) -> tuple[float, float, float]:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        out = ()
    if len(out) != 3 or not all(math.isfinite(v) for v in out):
        raise ValueError(f"{source}: preprocess_cfg {name} must be three numbers, got {value!r}")
    return out  # type: ignore[return-value]


@dataclass(frozen=True)
class PreprocessSpec:
    """Input side (px, square), normalisation mean/std and the Pillow resize filter."""

    size: int = MODEL_INPUT_PX
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    interpolation: str = "bicubic"

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"size must be a positive int, got {self.size!r}")
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {', '.join(_INTERPOLATIONS)}, got {self.interpolation!r}")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be positive, got {self.std!r}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], preprocess_cfg: Mapping[str, Any] | None = None,
                    source: str = "model config") -> PreprocessSpec:  # fmt: skip
        """The spec of an open_clip model config and its optional ``preprocess_cfg`` block."""
        pp = dict(preprocess_cfg or {})
        size = pp.get("size", cfg.get("vision_cfg", {}).get("image_size", MODEL_INPUT_PX))
        if isinstance(size, (list, tuple)):
            if len(set(size)) != 1:
                raise ValueError(f"{source}: only square inputs are supported, got size {size!r}")
            size = size[0]
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"{source}: input size must be a positive int, got {size!r}")
        resize_mode = pp.get("resize_mode", "shortest")
        if resize_mode not in ("shortest", "longest", "squash"):
            raise ValueError(f"{source}: preprocess_cfg resize_mode {resize_mode!r} is not supported")
        interpolation = pp.get("interpolation", "bicubic")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"{source}: preprocess_cfg interpolation must be one of {', '.join(_INTERPOLATIONS)}, "
                f"got {interpolation!r}"
            )
        mean = _triple("mean", pp["mean"], source) if "mean" in pp else CLIP_MEAN
        std = _triple("std", pp["std"], source) if "std" in pp else CLIP_STD
        if any(s <= 0 for s in std):
            raise ValueError(f"{source}: preprocess_cfg std must be positive, got {list(std)}")
        return cls(size=int(size), mean=mean, std=std, interpolation=interpolation)

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "mean": list(self.mean), "std": list(self.std),
                "interpolation": self.interpolation}  # fmt: skip


#: FetalCLIP's preprocessing (224 px, CLIP mean/std, bicubic).
FETALCLIP_PREPROCESS = PreprocessSpec()


def normalize_mode(img: Image.Image) -> Image.Image:
    """Bring any Pillow image to ``L`` or ``RGB`` the way the reference would see it."""
    if img.mode in ("L", "RGB"):
        return img
    if img.mode in ("RGBA", "P", "CMYK", "YCbCr", "RGBX", "PA", "HSV", "LAB"):
        return img.convert("RGB")
    if img.mode in ("LA", "1"):
        return img.convert("L")
    arr = np.asarray(img, dtype=np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    scaled = np.zeros(arr.shape, np.uint8) if hi <= lo else np.round((arr - lo) * (255.0 / (hi - lo)))
    return Image.fromarray(scaled.astype(np.uint8), mode="L")


def array_to_pil(frame: np.ndarray) -> Image.Image:
    """uint8 (rows, cols) gray or (rows, cols, 3|4) colour array -> ``L`` / ``RGB`` Pillow image."""
    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        raise TypeError(f"frame must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(arr), mode="L")
    if arr.ndim == 3 and arr.shape[2] == 1:
        return Image.fromarray(np.ascontiguousarray(arr[:, :, 0]), mode="L")
    if arr.ndim == 3 and arr.shape[2] == 3:
        return Image.fromarray(np.ascontiguousarray(arr), mode="RGB")
    if arr.ndim == 3 and arr.shape[2] == 4:
        return Image.fromarray(np.ascontiguousarray(arr), mode="RGBA").convert("RGB")
    raise ValueError(f"frame must be (rows, cols) or (rows, cols, 3), got shape {arr.shape}")


def as_pil(image: Image.Image | np.ndarray) -> Image.Image:
    if isinstance(image, Image.Image):
        return normalize_mode(image)
    if isinstance(image, np.ndarray):
        return array_to_pil(image)
    raise TypeError(f"image must be a PIL image or a numpy array, got {type(image).__name__}")


def pad_to_square(img: Image.Image) -> Image.Image:
    """Zero-pad to max(W, H) square; the odd extra pixel goes right/bottom (floor offsets)."""
    width, height = img.size
    side = max(width, height)
    if width == height:
        return img
    canvas = Image.new(img.mode, (side, side), 0)
    canvas.paste(img, ((side - width) // 2, (side - height) // 2))
    return canvas


def resize_to_input(img: Image.Image, spec: PreprocessSpec = FETALCLIP_PREPROCESS) -> Image.Image:
    """Steps 2-3 up to the colour conversion: pad, Pillow resize to the spec's size, RGB."""
    size = spec.size
    square = pad_to_square(as_pil(img))
    if square.size != (size, size):
        square = square.resize((size, size), _INTERPOLATIONS[spec.interpolation])
    return square.convert("RGB") if square.mode != "RGB" else square


def _normalize_uint8_batch(batch_uint8: np.ndarray, spec: PreprocessSpec):
    import torch

    x = torch.from_numpy(batch_uint8).permute(0, 3, 1, 2).contiguous()
    x = x.to(dtype=torch.get_default_dtype()).div(255)
    mean = torch.as_tensor(spec.mean, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.as_tensor(spec.std, dtype=x.dtype).view(1, -1, 1, 1)
    return x.sub_(mean).div_(std)


def preprocess_image(image: Image.Image | np.ndarray, spec: PreprocessSpec = FETALCLIP_PREPROCESS):
    """One image -> float32 tensor [3, size, size] (the reference pipeline)."""
    return preprocess_batch([image], spec)[0]


def preprocess_batch(images: Sequence[Image.Image | np.ndarray], spec: PreprocessSpec = FETALCLIP_PREPROCESS):
    """Many images -> float32 tensor [N, 3, size, size], identical to the per-image reference path."""
    if not isinstance(spec, PreprocessSpec):
        raise TypeError(f"spec must be a PreprocessSpec, got {type(spec).__name__}")
    if len(images) == 0:
        raise ValueError("images: need at least one image")
    size = spec.size
    batch = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        batch[i] = np.asarray(resize_to_input(image, spec))
    return _normalize_uint8_batch(batch, spec)
