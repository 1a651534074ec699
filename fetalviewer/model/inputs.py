"""What goes into the model: :class:`FrameInput` records built from DICOM frames or image files.

DICOM frames are cropped to the bounding box of the single 2D tissue region when the file has exactly one
(``fetalviewer.dicom.calibration.single_tissue_region``); the crop removes the scanner's text and
annotations around the image, which the reference images (HC18, FETAL_PLANES_DB) did not have. Files
without regions go through unchanged. The pixel size for the GA read-out comes from that region's cm
calibration; the reference prompt takes one pixel size, so x and y must agree within 1 % (otherwise GA is
unavailable with that reason) and the x value is used, as in the workspace.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fetalviewer.errors import FetalViewerError

#: x and y pixel sizes must agree within this fraction to give one GA pixel size.
ISOTROPY_TOLERANCE = 0.01
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class FrameInput:
    """One image to analyse: the (already cropped) pixels and the GA pixel size or why it is missing."""

    source: str
    frame_index: int | None
    image: np.ndarray
    pixel_size_mm: float | None = None
    pixel_size_note: str = ""
    crop_box_px: tuple[int, int, int, int] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.image, np.ndarray) or self.image.dtype != np.uint8:
            raise TypeError("image must be a uint8 numpy array")
        if self.image.ndim not in (2, 3) or min(self.image.shape[:2]) < 1:
            raise ValueError(f"image must be (rows, cols) or (rows, cols, 3), got shape {self.image.shape}")
        if self.pixel_size_mm is not None and not (
            self.pixel_size_mm > 0 and math.isfinite(self.pixel_size_mm)
        ):
            raise ValueError(f"pixel_size_mm must be positive or None, got {self.pixel_size_mm!r}")
        if self.pixel_size_mm is None and not self.pixel_size_note:
            raise ValueError("pixel_size_note must say why the pixel size is unknown")

    @property
    def width_px(self) -> int:
        return int(self.image.shape[1])

    @property
    def height_px(self) -> int:
        return int(self.image.shape[0])


def tissue_crop_box(regions: Sequence) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) inclusive box of the single 2D tissue region, or None."""
    from fetalviewer.dicom.calibration import single_tissue_region

    region = single_tissue_region(regions)
    return None if region is None else (int(region.x0), int(region.y0), int(region.x1), int(region.y1))


def crop_frame(frame: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    if box is None:
        return frame
    x0, y0, x1, y1 = box
    rows, cols = frame.shape[:2]
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(cols - 1, x1), min(rows - 1, y1)
    if x1 < x0 or y1 < y0:
        return frame
    return np.ascontiguousarray(frame[y0 : y1 + 1, x0 : x1 + 1])


def ga_pixel_size_from_regions(regions: Sequence) -> tuple[float | None, str]:
    """(mm per pixel, where from) or (None, why not) for the GA read-out."""
    from fetalviewer.dicom.calibration import single_tissue_region

    region = single_tissue_region(regions)
    if region is None:
        return None, "no pixel size: the image has no single 2D tissue region (give --pixel-size-mm)"
    dx, dy = region.mm_per_px_x, region.mm_per_px_y
    if dx is None or dy is None:
        return None, "no pixel size: the 2D tissue region is not calibrated in cm"
    if abs(dx - dy) > ISOTROPY_TOLERANCE * dx:
        return None, (
            f"anisotropic pixels ({dx:.4f} x {dy:.4f} mm); the reference GA prompt takes one pixel size"
        )
    return float(dx), f"ultrasound region {region.index} calibration"


@dataclass(frozen=True)
class CineInputPlan:
    """How the frames of one DICOM instance go into the model: the crop, the GA pixel size and where it
    comes from (or why there is none), notes for every frame, and ``options``: what differs from the
    defaults (``crop=True``, the file's own calibration) and changes the outputs, as text."""

    crop_box_px: tuple[int, int, int, int] | None
    pixel_size_mm: float | None
    pixel_size_note: str
    notes: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


def cine_input_plan(regions: Sequence, crop: bool = True, pixel_size_mm: float | None = None) -> CineInputPlan:
    """The :class:`CineInputPlan` of an instance with ultrasound ``regions``.

    ``pixel_size_mm`` is used only when the file itself gives none (its calibration is measured); without a
    single tissue region there is nothing to crop, so ``crop=False`` changes nothing there.
    """
    regions = tuple(regions or ())
    box = tissue_crop_box(regions) if regions else None
    options: list[str] = []
    if not crop and box is not None:
        box = None
        options.append("no-crop")
    size, note = (
        ga_pixel_size_from_regions(regions) if regions else (None, "no pixel size: no ultrasound regions")
    )
    if size is None and pixel_size_mm is not None:
        size, note = float(pixel_size_mm), "given on the command line (--pixel-size-mm)"
        options.append(f"pixel-size-mm={size!r}")
    notes = ("not cropped: the file has no single 2D tissue region",) if crop and regions and box is None else ()
    return CineInputPlan(box, size, note, notes, tuple(options))


def frame_inputs_from_cine(
    cine,
    frame_indices: Iterable[int] | None = None,
    crop: bool = True,
    pixel_size_mm: float | None = None,
) -> list[FrameInput]:
    """FrameInputs for frames of a :class:`fetalviewer.dicom.CineLoop` (all frames by default), planned by
    :func:`cine_input_plan`."""
    plan = cine_input_plan(tuple(getattr(cine, "regions", ()) or ()), crop, pixel_size_mm)
    indices = range(cine.n_frames) if frame_indices is None else frame_indices
    return [
        FrameInput(
            source=str(cine.path),
            frame_index=int(i),
            image=crop_frame(cine.frame(int(i)), plan.crop_box_px),
            pixel_size_mm=plan.pixel_size_mm,
            pixel_size_note=plan.pixel_size_note,
            crop_box_px=plan.crop_box_px,
            notes=plan.notes,
        )
        for i in indices
    ]


def read_image_file(path: str | os.PathLike[str]) -> np.ndarray:
    """PNG/JPEG/... -> uint8 L or RGB array following the reference's mode handling."""
    from PIL import Image, UnidentifiedImageError

    from fetalviewer.model.preprocess import normalize_mode

    try:
        with Image.open(path) as img:
            img.load()
            return np.asarray(normalize_mode(img)).copy()
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise FetalViewerError(f"{path}: not a readable image ({exc})") from exc


def frame_input_from_image(path: str | os.PathLike[str], pixel_size_mm: float | None = None) -> FrameInput:
    """A plain image file; GA needs ``pixel_size_mm`` (mm per pixel of this image)."""
    image = read_image_file(path)
    if pixel_size_mm is None:
        return FrameInput(
            str(Path(path)), None, image, None, "no pixel size: plain image (give --pixel-size-mm)"
        )
    return FrameInput(
        str(Path(path)), None, image, float(pixel_size_mm), "given on the command line (--pixel-size-mm)"
    )
