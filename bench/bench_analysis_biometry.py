"""Time the pure-analysis part of head biometry per frame (run by hand: python bench/bench_analysis_biometry.py).

Full-frame 800x540 head mask -> outer contour -> ellipse fit -> calibrated HC/BPD/OFD, GA by formula,
discordance, JSON fields. The segmentation model's own time is not included.
"""

from __future__ import annotations

import math
import time

import numpy as np

from fetalviewer.analysis.frame_biometry import biometry_fields, fit_head_mask
from fetalviewer.dicom.regions import UltrasoundRegion


def _mask(rng: np.random.Generator) -> np.ndarray:
    rows, cols = np.mgrid[0:540, 0:800]
    cx, cy = rng.uniform(350, 450), rng.uniform(240, 300)
    a = rng.uniform(150, 240)
    b = a * rng.uniform(0.7, 0.9)
    t = rng.uniform(0, math.pi)
    x, y = cols + 0.5 - cx, rows + 0.5 - cy
    u = x * math.cos(t) + y * math.sin(t)
    v = -x * math.sin(t) + y * math.cos(t)
    return ((u / a) ** 2 + (v / b) ** 2 <= 1).astype(np.uint8)


def main(n: int = 50) -> None:
    rng = np.random.default_rng(0)
    masks = [_mask(rng) for _ in range(n)]
    region = UltrasoundRegion(0, 0, 0, 799, 539, 1, 1, 3, 3, 0.012, 0.012)
    fit_head_mask(masks[0], (0, 0, 799, 539))  # warm up cv2
    t0 = time.perf_counter()
    for m in masks:
        fit = fit_head_mask(m, (0, 0, 799, 539))
        biometry_fields(fit, regions=[region], model_ga_days=150)
    per_frame_ms = (time.perf_counter() - t0) / n * 1000
    print(f"{n} frames 800x540: {per_frame_ms:.2f} ms per frame (contour, fit, biometry, GA, fields)")


if __name__ == "__main__":
    main()
