"""Pixel work for square model inputs: crop, zero-pad to square, resize, and resample maps back.

The coordinate bookkeeping lives in :class:`fetalviewer.analysis.geometry.InputMapping` (the one
geometry module); this module only moves pixels according to such a mapping. With the app's image
coordinates (pixel edges at integers) the mapping is a plain shift and scale, and OpenCV's
``INTER_LINEAR`` / ``INTER_AREA`` resizes follow the same half-pixel-centre convention, so a map
resampled here lines up exactly with points mapped by ``InputMapping.to_original``.
"""

from __future__ import annotations

import numpy as np

from fetalviewer.analysis.geometry import InputMapping

_INTERPOLATIONS = ("area", "linear", "nearest")


def square_mapping(
    frame_shape: tuple[int, ...], size: int, box: tuple[int, int, int, int] | None = None
) -> InputMapping:
    """The symmetric zero-pad-to-square mapping of a frame (or of the inclusive ``box`` x0, y0, x1, y1)."""
    rows, cols = int(frame_shape[0]), int(frame_shape[1])
    if box is None:
        return InputMapping.square_pad(cols, rows, size)
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (0 <= x0 <= x1 < cols and 0 <= y0 <= y1 < rows):
        raise ValueError(f"box {box} is not inside a frame of {cols}x{rows} pixels")
    return InputMapping.square_pad(x1 - x0 + 1, y1 - y0 + 1, size, crop_x0=x0, crop_y0=y0)


def _cv_flag(interpolation: str) -> int:
    import cv2

    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
    return {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST}[interpolation]


def to_model_input(frame: np.ndarray, mapping: InputMapping, interpolation: str = "area") -> np.ndarray:
    """Crop, zero-pad and resize ``frame`` (``rows x cols[ x C]``) as ``mapping`` says."""
    import cv2

    frame = np.asarray(frame)
    m = mapping
    crop = frame[m.crop_y0 : m.crop_y0 + m.crop_height, m.crop_x0 : m.crop_x0 + m.crop_width]
    if crop.shape[:2] != (m.crop_height, m.crop_width):
        raise ValueError(f"frame of shape {frame.shape[:2]} does not hold the mapping's crop")
    padded = np.zeros((m.padded_height, m.padded_width) + frame.shape[2:], dtype=frame.dtype)
    padded[m.pad_top : m.pad_top + m.crop_height, m.pad_left : m.pad_left + m.crop_width] = crop
    if (m.padded_width, m.padded_height) == (m.input_width, m.input_height):
        return padded
    return cv2.resize(padded, (m.input_width, m.input_height), interpolation=_cv_flag(interpolation))


def map_to_frame(model_map: np.ndarray, mapping: InputMapping, frame_shape: tuple[int, ...]) -> np.ndarray:
    """Resample a model-input float map bilinearly back into a full frame (0 outside the crop)."""
    import cv2

    m = mapping
    model_map = np.asarray(model_map, dtype=np.float32)
    if model_map.shape != (m.input_height, m.input_width):
        raise ValueError(f"map has shape {model_map.shape}, expected {(m.input_height, m.input_width)}")
    padded = cv2.resize(model_map, (m.padded_width, m.padded_height), interpolation=cv2.INTER_LINEAR)
    out = np.zeros(tuple(int(v) for v in frame_shape[:2]), dtype=np.float32)
    out[m.crop_y0 : m.crop_y0 + m.crop_height, m.crop_x0 : m.crop_x0 + m.crop_width] = padded[
        m.pad_top : m.pad_top + m.crop_height, m.pad_left : m.pad_left + m.crop_width
    ]
    return out
