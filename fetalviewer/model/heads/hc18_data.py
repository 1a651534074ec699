"""The HC18 head-circumference data set: reading, filled masks, and the fixed held-out split.

HC18: T. L. A. van den Heuvel, D. de Bruijn, C. L. de Korte, B. van Ginneken, "Automated measurement of
fetal head circumference using 2D ultrasound images", PLoS ONE 13(8):e0200412, 2018; data set
doi:10.5281/zenodo.1327317, licensed CC BY 4.0.

Layout expected (the HC18 challenge data, van den Heuvel et al. 2018, as unpacked): ``images/NNN_HC.png`` (8-bit B-mode),
``images/NNN_HC_Annotation.png`` (1-pixel outline of the outer skull, 255 on 0) and
``pixel_size_and_hc.csv`` (``filename, pixel size(mm), head circumference (mm)``).

Held-out split: an image is held out when ``int(sha256("fetalviewer-hc18-split-v1:" + ID)[:8], 16)
% 100 < 20`` (``[:8]``: the first 8 hex digits of the digest), where ``ID`` is the leading number of the file name (``010`` for both ``010_HC.png`` and
``010_2HC.png``), so repeat images of one fetus never straddle the split.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fetalviewer.errors import FetalViewerError

SPLIT_SALT = "fetalviewer-hc18-split-v1:"
HELDOUT_PERCENT = 20


def subject_id(filename: str) -> str:
    """The leading number of an HC18 file name (``"010_2HC.png" -> "010"``)."""
    match = re.match(r"(\d+)_", Path(filename).name)
    if match is None:
        raise ValueError(f"filename {filename!r} does not start with an HC18 number")
    return match.group(1)


def is_held_out(filename: str) -> bool:
    """True when ``filename`` belongs to the fixed held-out split (never trained on)."""
    digest = hashlib.sha256((SPLIT_SALT + subject_id(filename)).encode("ascii")).hexdigest()
    return int(digest[:8], 16) % 100 < HELDOUT_PERCENT


@dataclass(frozen=True)
class HC18Item:
    """One HC18 image with its published pixel size and head circumference."""

    filename: str
    image_path: Path
    annotation_path: Path
    pixel_size_mm: float
    hc_mm: float

    @property
    def held_out(self) -> bool:
        return is_held_out(self.filename)

    def load_image(self) -> np.ndarray:
        return _read_gray(self.image_path)

    def load_mask(self) -> np.ndarray:
        """The filled skull mask (uint8 0/1), see :func:`fill_outline`."""
        return fill_outline(_read_gray(self.annotation_path), source=self.annotation_path)


def _read_gray(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise FetalViewerError(f"{path}: cannot be read as an image")
    return image


def fill_outline(outline: np.ndarray, source: object = "outline") -> np.ndarray:
    """The mask (uint8 0/1) of the pixels whose centres lie inside the ellipse fitted to an outline.

    HC18's published HC is the perimeter of the ellipse fitted to the outline pixels (its README).
    The app measures a mask by its edge (:func:`fetalviewer.analysis.geometry.fit_ellipse_to_mask`
    grows the boundary-pixel contour by half a pixel), so a mask rasterised from that same ellipse
    is the target whose measurement reproduces the published HC; it also closes the two HC18
    outlines that have gaps.
    """
    from fetalviewer.analysis.geometry import fit_ellipse_to_points, rc_to_points

    on = np.asarray(outline) > 0
    if on.sum() < 5:
        raise FetalViewerError(f"{source}: annotation has fewer than 5 outline pixels")
    fit = fit_ellipse_to_points(rc_to_points(np.argwhere(on)), min_angular_coverage=0.5)
    if fit.ellipse is None:
        raise FetalViewerError(f"{source}: annotation outline is not an ellipse ({fit.reason})")
    return rasterize_ellipse(fit.ellipse, on.shape)


def rasterize_ellipse(ellipse, shape: tuple[int, int]) -> np.ndarray:
    """uint8 0/1 mask of the pixels of a ``shape`` array whose centres lie inside ``ellipse``."""
    rows, cols = shape
    (cx, cy), (a, b) = ellipse.center_px, ellipse.semi_axes_px
    t = np.radians(ellipse.angle_deg)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64) + 0.5
    u = (x - cx) * np.cos(t) + (y - cy) * np.sin(t)
    v = -(x - cx) * np.sin(t) + (y - cy) * np.cos(t)
    return ((u / a) ** 2 + (v / b) ** 2 <= 1.0).astype(np.uint8)


def read_hc18(folder: str | Path) -> list[HC18Item]:
    """All items of an HC18-style folder, sorted by file name."""
    folder = Path(folder)
    csv_path = folder / "pixel_size_and_hc.csv"
    if not csv_path.is_file():
        raise FetalViewerError(f"{csv_path}: missing (expected an HC18 folder with this CSV)")
    items = []
    with open(csv_path, newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if not row or row[0].strip().lower() == "filename":
                continue
            name = row[0].strip()
            image = folder / "images" / name
            annotation = folder / "images" / name.replace(".png", "_Annotation.png")
            if not image.is_file() or not annotation.is_file():
                raise FetalViewerError(f"{folder}: image or annotation for {name} is missing")
            items.append(HC18Item(name, image, annotation, float(row[1]), float(row[2])))
    return sorted(items, key=lambda item: item.filename)
