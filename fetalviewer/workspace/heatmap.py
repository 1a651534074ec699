"""Heat map of where an image supports a plane class, mapped back to the original pixels.

Method (a documented, cheaper equivalent of the reference CAM): the reference FetalCLIP code uses ScoreCAM on
``visual.transformer.resblocks[-1].ln_1`` with the 16x16 token map and the zero-shot class as target
(arXiv 2502.14807); ScoreCAM needs one extra forward pass per channel group, far too slow on a CPU. Here each
patch token of the last layer (after ``ln_post``) is projected with the vision projection into the joint
embedding space, L2-normalised, and its cosine with every class text embedding is kept (16x16 per class,
computed in the same forward pass as the image embedding, so the heat map costs no inference). The map
shown for class c is ``cos_c - mean_k cos_k`` (how much more a patch resembles class c than the average
class), which suppresses patches that look alike for every class (text, background). Patch-token
similarity maps of this kind are the basis of MaskCLIP (Zhou et al., ECCV 2022).

Geometry: the model saw the frame zero-padded to a centred square of side S = max(rows, cols) (offset
floor((S-cols)/2), floor((S-rows)/2)) and resized to 224; the 16x16 grid therefore covers the padded square.
The map is upsampled to S x S (bilinear, patch centres at (k + 0.5) S/16) and cropped back to rows x cols;
when the model saw a crop of the frame (the tissue region), the map is placed back at the crop's offset.
"""

from __future__ import annotations

import numpy as np


def class_contrast_map(class_maps: np.ndarray, class_index: int) -> np.ndarray:
    """``cos_c - mean_k cos_k`` for one frame's (P, S, S) maps (see module doc)."""
    maps = np.asarray(class_maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"class_maps must be (classes, S, S), got shape {maps.shape}")
    if not 0 <= class_index < maps.shape[0]:
        raise ValueError(f"class_index {class_index} out of range 0..{maps.shape[0] - 1}")
    if np.isnan(maps).any():
        raise ValueError("class_maps holds NaN: the frame has not been analysed")
    return maps[class_index] - maps.mean(axis=0)


def _bilinear_axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights for resizing one axis from n_in cells to n_out pixels (cell centres)."""
    pos = (np.arange(n_out, dtype=np.float64) + 0.5) * n_in / n_out - 0.5
    pos = np.clip(pos, 0.0, n_in - 1.0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (pos - lo).astype(np.float32)


def map_to_image(token_map: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Upsample a square token map over the padded square to a (rows, cols) map in original pixels."""
    grid = np.asarray(token_map, dtype=np.float32)
    if grid.ndim != 2 or grid.shape[0] != grid.shape[1]:
        raise ValueError(f"token_map must be square 2-D, got shape {grid.shape}")
    if rows < 1 or cols < 1:
        raise ValueError(f"rows and cols must be positive, got {rows} x {cols}")
    side = max(rows, cols)
    off_x, off_y = (side - cols) // 2, (side - rows) // 2
    n = grid.shape[0]
    r_lo, r_hi, r_w = _bilinear_axis(side, n)
    c_lo, c_hi, c_w = _bilinear_axis(side, n)
    r_lo, r_hi, r_w = r_lo[off_y : off_y + rows], r_hi[off_y : off_y + rows], r_w[off_y : off_y + rows]
    c_lo, c_hi, c_w = c_lo[off_x : off_x + cols], c_hi[off_x : off_x + cols], c_w[off_x : off_x + cols]
    top = grid[r_lo][:, c_lo] * (1 - c_w) + grid[r_lo][:, c_hi] * c_w
    bottom = grid[r_hi][:, c_lo] * (1 - c_w) + grid[r_hi][:, c_hi] * c_w
    return top * (1 - r_w)[:, None] + bottom * r_w[:, None]


def heatmap_for_frame(
    class_maps: np.ndarray,
    class_index: int,
    rows: int,
    cols: int,
    crop_box_px: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """Heat map over the whole (rows, cols) frame, scaled to 0..1 inside the part the model saw.

    ``crop_box_px`` (x0, y0, x1, y1, inclusive) is the tissue region the frames were cropped to before the
    model (:mod:`fetalviewer.model.inputs`); outside it the map is 0.
    """
    if crop_box_px is None:
        x0, y0, x1, y1 = 0, 0, cols - 1, rows - 1
    else:
        x0, y0 = max(0, int(crop_box_px[0])), max(0, int(crop_box_px[1]))
        x1, y1 = min(cols - 1, int(crop_box_px[2])), min(rows - 1, int(crop_box_px[3]))
        if x1 < x0 or y1 < y0:
            x0, y0, x1, y1 = 0, 0, cols - 1, rows - 1
    inner = map_to_image(class_contrast_map(class_maps, class_index), y1 - y0 + 1, x1 - x0 + 1)
    out = np.zeros((rows, cols), dtype=np.float32)
    lo, hi = float(inner.min()), float(inner.max())
    if hi - lo >= 1e-12:
        out[y0 : y1 + 1, x0 : x1 + 1] = (inner - lo) / (hi - lo)
    return out


def heatmap_rgba(
    class_maps: np.ndarray,
    class_index: int,
    rows: int,
    cols: int,
    crop_box_px: tuple[int, int, int, int] | None,
    lut_rgb: np.ndarray,
    max_alpha: int,
) -> np.ndarray:
    """The overlay image (rows, cols, 4) uint8 of :func:`heatmap_for_frame`: colour from ``lut_rgb``
    (256 x 3 uint8), opacity ``heat**1.5 * max_alpha`` (low values fade out). Pure numpy: safe off the GUI
    thread."""
    lut = np.asarray(lut_rgb, dtype=np.uint8)
    if lut.shape != (256, 3):
        raise ValueError(f"lut_rgb must be 256 x 3, got shape {lut.shape}")
    if not 0 <= int(max_alpha) <= 255:
        raise ValueError(f"max_alpha must lie in 0..255, got {max_alpha}")
    heat = heatmap_for_frame(class_maps, class_index, rows, cols, crop_box_px)
    rgba = np.empty(heat.shape + (4,), np.uint8)
    rgba[..., :3] = lut[(heat * 255).astype(np.uint8)]
    rgba[..., 3] = (heat**1.5 * int(max_alpha)).astype(np.uint8)
    return rgba
