"""Calibration of pixel measurements from the ultrasound regions (never guessed).

Rules (PS3.3 C.8.5.5, summarised in docs/dicom.md):

* a set of points is calibrated only when every point lies inside one region whose X and Y
  units are both cm (PhysicalUnitsX/YDirection = 3); then ``mm/px = 10 x PhysicalDelta`` on each
  axis (anisotropic deltas are legal and kept apart);
* when several such regions hold all points (e.g. a colour-flow box inside the 2D tissue region)
  and their deltas agree, the 2D tissue region is named as the source; when they disagree the
  2D tissue one is used if exactly one exists, else the points are uncalibrated (ambiguous);
* PixelSpacing (0028,0030) is used only when the instance has no regions at all, and the source
  says so;
* anything else is uncalibrated with a reason a user can read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fetalviewer.dicom.regions import UltrasoundRegion

SOURCE_PIXEL_SPACING = "PixelSpacing (0028,0030), no ultrasound regions"


@dataclass(frozen=True)
class Calibration:
    """Millimetres per pixel step along x (columns) and y (rows), and where they came from."""

    mm_per_px_x: float
    mm_per_px_y: float
    source: str
    region_index: int | None = None

    def __post_init__(self) -> None:
        for name in ("mm_per_px_x", "mm_per_px_y"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"Calibration.{name} must be a number, got {type(value).__name__}")
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"Calibration.{name} must be a positive finite number, got {value}")
        if not isinstance(self.source, str) or not self.source:
            raise ValueError("Calibration.source must be a non-empty string")
        if self.region_index is not None and (
            isinstance(self.region_index, bool) or not isinstance(self.region_index, int)
        ):
            raise TypeError("Calibration.region_index must be an int or None")

    @property
    def is_isotropic(self) -> bool:
        return math.isclose(self.mm_per_px_x, self.mm_per_px_y, rel_tol=1e-6)

    def to_dict(self) -> dict:
        return {
            "mm_per_px_x": self.mm_per_px_x,
            "mm_per_px_y": self.mm_per_px_y,
            "source": self.source,
            "region_index": self.region_index,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        return cls(
            mm_per_px_x=float(data["mm_per_px_x"]),
            mm_per_px_y=float(data["mm_per_px_y"]),
            source=str(data["source"]),
            region_index=None if data.get("region_index") is None else int(data["region_index"]),
        )


@dataclass(frozen=True)
class CalibrationResult:
    """Either a calibration (and the region it came from) or the reason there is none."""

    calibration: Calibration | None
    reason: str | None = None
    region: UltrasoundRegion | None = None

    def __post_init__(self) -> None:
        if self.calibration is None and not self.reason:
            raise ValueError("CalibrationResult.reason is required when calibration is None")

    @property
    def is_calibrated(self) -> bool:
        return self.calibration is not None


def region_calibration(region: UltrasoundRegion) -> Calibration | None:
    """The calibration of one region when both of its axes are in cm, else None."""
    if not region.is_cm_calibrated:
        return None
    kind = "2D tissue" if region.is_2d_tissue else f"{region.spatial_format_name} {region.data_type_name}"
    return Calibration(
        mm_per_px_x=region.mm_per_px_x,
        mm_per_px_y=region.mm_per_px_y,
        source=f"Sequence of Ultrasound Regions, region {region.index} ({kind}), 10 x PhysicalDelta",
        region_index=region.index,
    )


def single_tissue_region(regions: Iterable[UltrasoundRegion]) -> UltrasoundRegion | None:
    """The 2D tissue region when there is exactly one, else None (none or ambiguous)."""
    tissue = [r for r in regions if r.is_2d_tissue]
    return tissue[0] if len(tissue) == 1 else None


def _check_points(points_xy: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for i, point in enumerate(points_xy):
        if len(point) != 2:
            raise ValueError(f"points_xy[{i}] must be an (x, y) pair, got {point!r}")
        x, y = float(point[0]), float(point[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"points_xy[{i}] must be finite, got {point!r}")
        points.append((x, y))
    if not points:
        raise ValueError("points_xy must hold at least one point")
    return points


def _same_deltas(a: Calibration, b: Calibration) -> bool:
    return math.isclose(a.mm_per_px_x, b.mm_per_px_x, rel_tol=1e-9) and math.isclose(
        a.mm_per_px_y, b.mm_per_px_y, rel_tol=1e-9
    )


def calibration_for_points(
    regions: Sequence[UltrasoundRegion],
    points_xy: Sequence[Sequence[float]],
    pixel_spacing_mm: tuple[float, float] | None = None,
) -> CalibrationResult:
    """Calibration for a measurement through ``points_xy`` ((x=col, y=row) in original pixels).

    ``pixel_spacing_mm`` is (row spacing, column spacing) from PixelSpacing; it is used only when
    ``regions`` is empty.
    """
    points = _check_points(points_xy)
    regions = tuple(regions)
    if not regions:
        if pixel_spacing_mm is not None:
            row_mm, col_mm = (float(v) for v in pixel_spacing_mm)
            if row_mm > 0 and col_mm > 0 and math.isfinite(row_mm) and math.isfinite(col_mm):
                return CalibrationResult(Calibration(col_mm, row_mm, SOURCE_PIXEL_SPACING, None))
        return CalibrationResult(
            None, "uncalibrated: the image has no ultrasound regions (0018,6011) and no pixel spacing"
        )
    holding = [r for r in regions if all(r.contains(x, y) for x, y in points)]
    if not holding:
        return CalibrationResult(None, "uncalibrated: the points do not all lie inside one ultrasound region")
    candidates = [(r, region_calibration(r)) for r in holding]
    candidates = [(r, c) for r, c in candidates if c is not None]
    if not candidates:
        units = ", ".join(f"region {r.index}: {r.units_name}" for r in holding)
        return CalibrationResult(None, f"uncalibrated: the region's units are not cm on both axes ({units})")
    tissue = [(r, c) for r, c in candidates if r.is_2d_tissue]
    if all(_same_deltas(candidates[0][1], c) for _, c in candidates[1:]):
        region, cal = (tissue or candidates)[0]
        return CalibrationResult(cal, None, region)
    if len(tissue) == 1:
        return CalibrationResult(tissue[0][1], None, tissue[0][0])
    return CalibrationResult(
        None, "uncalibrated: the points lie in several cm regions with different scales (ambiguous)"
    )
