"""Ultrasound regions: the Sequence of Ultrasound Regions (0018,6011) parsed into objects.

Standard: DICOM PS3.3 C.8.5.5 "US Region Calibration Module" (RegionSpatialFormat C.8.5.5.1.1,
RegionDataType C.8.5.5.1.2, RegionFlags C.8.5.5.1.3, PhysicalUnitsX/YDirection C.8.5.5.1.15).
PhysicalDeltaX/Y is the physical size of one pixel step in the region's units, so with units = cm
the scale is ``mm/px = 10 x PhysicalDelta``.

Pixel coordinates: points are (x=col, y=row) floats in original image pixels, with pixel (r, c)
covering [c, c+1] x [r, r+1] (the row-major ImageItem convention); the region box
(RegionLocationMinX0 .. MaxX1, MinY0 .. MaxY1) is inclusive in pixel indices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: RegionSpatialFormat (0018,6012), PS3.3 C.8.5.5.1.1.
SPATIAL_FORMAT_NAMES: dict[int, str] = {
    0: "none",
    1: "2D",
    2: "M-mode",
    3: "spectral",
    4: "waveform",
    5: "graphics",
}

#: RegionDataType (0018,6014), PS3.3 C.8.5.5.1.2.
DATA_TYPE_NAMES: dict[int, str] = {
    0: "none",
    1: "tissue",
    2: "color flow",
    3: "PW spectral Doppler",
    4: "CW spectral Doppler",
    5: "Doppler mean trace",
    6: "Doppler mode trace",
    7: "Doppler max trace",
    8: "volume trace",
    10: "ECG trace",
    11: "pulse trace",
    12: "phonocardiogram trace",
    13: "gray bar",
    14: "color bar",
    15: "integrated backscatter",
    16: "area trace",
    17: "d(area)/dt",
    18: "other physiological input",
}

#: PhysicalUnitsXDirection / PhysicalUnitsYDirection (0018,6024 / 0018,6026), PS3.3 C.8.5.5.1.15.
UNITS_NAMES: dict[int, str] = {
    0: "none",
    1: "percent",
    2: "dB",
    3: "cm",
    4: "seconds",
    5: "hertz",
    6: "dB/seconds",
    7: "cm/s",
    8: "cm2",
    9: "cm2/s",
    10: "cm3",
    11: "cm3/s",
    12: "degrees",
}

SPATIAL_FORMAT_2D = 1
DATA_TYPE_TISSUE = 1
UNITS_CM = 3
#: RegionFlags bit 0: "region is of low priority" (PS3.3 C.8.5.5.1.3).
FLAG_LOW_PRIORITY = 0x1


def _name(table: dict[int, str], code: int) -> str:
    return table.get(code, f"unknown ({code})")


@dataclass(frozen=True)
class UltrasoundRegion:
    """One item of the Sequence of Ultrasound Regions; box inclusive, deltas in the region's units."""

    index: int
    x0: int
    y0: int
    x1: int
    y1: int
    spatial_format: int
    data_type: int
    units_x: int
    units_y: int
    physical_delta_x: float
    physical_delta_y: float
    flags: int = 0
    reference_pixel_x0: int | None = None
    reference_pixel_y0: int | None = None

    def __post_init__(self) -> None:
        for name in (
            "index",
            "x0",
            "y0",
            "x1",
            "y1",
            "spatial_format",
            "data_type",
            "units_x",
            "units_y",
            "flags",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"UltrasoundRegion.{name} must be an int, got {type(value).__name__}")
        if self.index < 0:
            raise ValueError(f"UltrasoundRegion.index must be >= 0, got {self.index}")
        if self.x1 < self.x0:
            raise ValueError(f"UltrasoundRegion.x1 ({self.x1}) is left of x0 ({self.x0})")
        if self.y1 < self.y0:
            raise ValueError(f"UltrasoundRegion.y1 ({self.y1}) is above y0 ({self.y0})")
        for name in ("physical_delta_x", "physical_delta_y"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise TypeError(f"UltrasoundRegion.{name} must be a number, got {type(value).__name__}")
            if not math.isfinite(value):
                raise ValueError(f"UltrasoundRegion.{name} must be finite, got {value}")

    # ----------------------------------------------------------------- names
    @property
    def spatial_format_name(self) -> str:
        return _name(SPATIAL_FORMAT_NAMES, self.spatial_format)

    @property
    def data_type_name(self) -> str:
        return _name(DATA_TYPE_NAMES, self.data_type)

    @property
    def units_x_name(self) -> str:
        return _name(UNITS_NAMES, self.units_x)

    @property
    def units_y_name(self) -> str:
        return _name(UNITS_NAMES, self.units_y)

    @property
    def units_name(self) -> str:
        """Unit name: "cm" when both axes share a unit, else "X-unit x Y-unit" (e.g. "seconds x cm/s")."""
        if self.units_x == self.units_y:
            return self.units_x_name
        return f"{self.units_x_name} x {self.units_y_name}"

    # ------------------------------------------------------------ properties
    @property
    def is_2d_tissue(self) -> bool:
        return self.spatial_format == SPATIAL_FORMAT_2D and self.data_type == DATA_TYPE_TISSUE

    @property
    def is_low_priority(self) -> bool:
        return bool(self.flags & FLAG_LOW_PRIORITY)

    @property
    def is_cm_calibrated(self) -> bool:
        """Both axes in cm with a non-zero delta: distances inside can be given in mm."""
        return (
            self.units_x == UNITS_CM
            and self.units_y == UNITS_CM
            and self.physical_delta_x != 0
            and self.physical_delta_y != 0
        )

    @property
    def mm_per_px_x(self) -> float | None:
        """10 x |PhysicalDeltaX| when the X unit is cm (PS3.3 C.8.5.5.1.15), else None."""
        if self.units_x != UNITS_CM or self.physical_delta_x == 0:
            return None
        return 10.0 * abs(float(self.physical_delta_x))

    @property
    def mm_per_px_y(self) -> float | None:
        """10 x |PhysicalDeltaY| when the Y unit is cm, else None."""
        if self.units_y != UNITS_CM or self.physical_delta_y == 0:
            return None
        return 10.0 * abs(float(self.physical_delta_y))

    @property
    def width_px(self) -> int:
        return self.x1 - self.x0 + 1

    @property
    def height_px(self) -> int:
        return self.y1 - self.y0 + 1

    def contains(self, x: float, y: float) -> bool:
        """True when point (x=col, y=row) lies on a pixel of the inclusive box [x0..x1] x [y0..y1]."""
        return self.x0 <= x <= self.x1 + 1 and self.y0 <= y <= self.y1 + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "box": [self.x0, self.y0, self.x1, self.y1],
            "spatial_format": self.spatial_format,
            "spatial_format_name": self.spatial_format_name,
            "data_type": self.data_type,
            "data_type_name": self.data_type_name,
            "units_x": self.units_x_name,
            "units_y": self.units_y_name,
            "physical_delta_x": self.physical_delta_x,
            "physical_delta_y": self.physical_delta_y,
            "flags": self.flags,
            "mm_per_px_x": self.mm_per_px_x,
            "mm_per_px_y": self.mm_per_px_y,
        }


def _int(item: Any, keyword: str, default: int | None = 0) -> int | None:
    value = item.get(keyword)
    if value is None or value == "":
        return default
    return int(value)


def _float(item: Any, keyword: str) -> float:
    value = item.get(keyword)
    if value is None or value == "":
        return 0.0
    return float(value)


def parse_regions(ds: Any, skipped: list[str] | None = None) -> tuple[UltrasoundRegion, ...]:
    """Parse (0018,6011) of a pydicom dataset; unusable items are skipped, never guessed.

    An item without its box, or with contradictory values (e.g. x1 < x0), is left out and the
    reason appended to ``skipped`` when given. Region indices keep the item's position.
    """
    seq = ds.get("SequenceOfUltrasoundRegions")
    if not seq:
        return ()
    regions: list[UltrasoundRegion] = []
    for i, item in enumerate(seq):
        try:
            box = [
                _int(item, k, None)
                for k in (
                    "RegionLocationMinX0",
                    "RegionLocationMinY0",
                    "RegionLocationMaxX1",
                    "RegionLocationMaxY1",
                )
            ]
            if any(v is None for v in box):
                raise ValueError("the region box (RegionLocationMinX0..MaxY1) is incomplete")
            regions.append(
                UltrasoundRegion(
                    index=i,
                    x0=box[0],
                    y0=box[1],
                    x1=box[2],
                    y1=box[3],
                    spatial_format=_int(item, "RegionSpatialFormat"),
                    data_type=_int(item, "RegionDataType"),
                    units_x=_int(item, "PhysicalUnitsXDirection"),
                    units_y=_int(item, "PhysicalUnitsYDirection"),
                    physical_delta_x=_float(item, "PhysicalDeltaX"),
                    physical_delta_y=_float(item, "PhysicalDeltaY"),
                    flags=_int(item, "RegionFlags"),
                    reference_pixel_x0=_int(item, "ReferencePixelX0", None),
                    reference_pixel_y0=_int(item, "ReferencePixelY0", None),
                )
            )
        except (TypeError, ValueError) as exc:
            if skipped is not None:
                skipped.append(f"ultrasound region item {i} ignored: {exc}")
    return tuple(regions)
