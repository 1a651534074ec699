"""Clean Pixel Data option (PS3.15 E.3.1) for ultrasound: where the 2D imaging regions are, and
blacking out everything outside them (frames are decoded, cleaned and stored one by one in :mod:`.stream`)."""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset


def imaging_boxes(ds: Dataset) -> list[tuple[int, int, int, int]]:
    """Inclusive pixel boxes (x0, y0, x1, y1) of the 2D imaging regions (tissue or colour flow),
    clipped to the image; from the Sequence of Ultrasound Regions (PS3.3 C.8.5.5)."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    boxes = []
    for region in ds.get("SequenceOfUltrasoundRegions", []):
        if int(region.get("RegionSpatialFormat", 0)) != 1:
            continue
        if int(region.get("RegionDataType", 0)) not in (1, 2):
            continue
        x0 = max(0, int(region.RegionLocationMinX0))
        y0 = max(0, int(region.RegionLocationMinY0))
        x1 = min(cols - 1, int(region.RegionLocationMaxX1))
        y1 = min(rows - 1, int(region.RegionLocationMaxY1))
        if x1 >= x0 and y1 >= y0:
            boxes.append((x0, y0, x1, y1))
    return boxes


def blackout_outside(frames: np.ndarray, boxes, frame_ndim: int) -> np.ndarray:
    """Return a copy of ``frames`` (one frame or a stack) that is 0 outside the union of ``boxes``."""
    keep = np.zeros(frames.shape[-frame_ndim:][:2], dtype=bool)
    for x0, y0, x1, y1 in boxes:
        keep[y0 : y1 + 1, x0 : x1 + 1] = True
    cleaned = frames.copy()
    if frame_ndim == 3:
        cleaned[..., ~keep, :] = 0
    else:
        cleaned[..., ~keep] = 0
    return cleaned
