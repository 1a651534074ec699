"""FetalCLIP input preprocessing, exactly as the reference zero-shot evaluation.

1. PIL image; RGBA -> RGB; grayscale ``L`` stays ``L`` until step 3;
2. zero-pad to a square of side max(W, H), pasting at ((max-W)//2, (max-H)//2);
3. open_clip's eval transform: Pillow bicubic resize to 224 (antialiased), CenterCrop(224) (a no-op on a
   square), RGB, ``ToTensor`` (/255), CLIP normalisation (Radford et al. 2021 mean/std).

:func:`preprocess_batch` runs steps 1-3 per image in Pillow (the resize must be Pillow's) and does the
float conversion and normalisation once for the whole batch with the same float32 operations as
torchvision, so its tensor is bit-identical to the per-image path.

Modes beyond the reference's 8-bit L/RGB(A) (a decision, documented here): ``P`` -> RGB, ``LA`` -> L,
16-bit/32-bit integer and float images are scaled linearly from their min..max to 0..255 ``L``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

MODEL_INPUT_PX = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


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


def resize_to_input(img: Image.Image, size: int = MODEL_INPUT_PX) -> Image.Image:
    """Steps 2-3 up to the colour conversion: pad, Pillow bicubic resize to ``size``, RGB."""
    square = pad_to_square(as_pil(img))
    if square.size != (size, size):
        square = square.resize((size, size), Image.BICUBIC)
    return square.convert("RGB") if square.mode != "RGB" else square


def _normalize_uint8_batch(batch_uint8: np.ndarray):
    import torch

    x = torch.from_numpy(batch_uint8).permute(0, 3, 1, 2).contiguous()
    x = x.to(dtype=torch.get_default_dtype()).div(255)
    mean = torch.as_tensor(CLIP_MEAN, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.as_tensor(CLIP_STD, dtype=x.dtype).view(1, -1, 1, 1)
    return x.sub_(mean).div_(std)


def preprocess_image(image: Image.Image | np.ndarray, size: int = MODEL_INPUT_PX):
    """One image -> float32 tensor [3, size, size] (the reference pipeline)."""
    return preprocess_batch([image], size=size)[0]


def preprocess_batch(images: Sequence[Image.Image | np.ndarray], size: int = MODEL_INPUT_PX):
    """Many images -> float32 tensor [N, 3, size, size], identical to the per-image reference path."""
    if len(images) == 0:
        raise ValueError("images: need at least one image")
    batch = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        batch[i] = np.asarray(resize_to_input(image, size))
    return _normalize_uint8_batch(batch)
