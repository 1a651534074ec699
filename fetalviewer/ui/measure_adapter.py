"""The one place the window creates, edits, formats and stores measurements (contract 2).

The window never computes a length itself: it hands the caliper geometry (image coordinates,
x = column, y = row, pixel (r, c) covering [c, c+1] x [r, r+1]) and the instance's ultrasound
regions to :func:`fetalviewer.analysis.measurement.make_distance` / ``make_ellipse`` /
``edit_measurement``, which decide the calibration with
:func:`fetalviewer.dicom.calibration.calibration_for_points` (mm only when every point lies in one
2D region calibrated in cm, DICOM PS3.3 C.8.5.5.1; otherwise px, "uncalibrated", with the reason).
Measurements persist in the study's exam record (:mod:`fetalviewer.exam.record`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from fetalviewer.analysis.measurement import (
    DISTANCE_LABELS,
    ELLIPSE_LABELS,
    Measurement,
    edit_measurement,
    make_distance,
    make_ellipse,
)
from fetalviewer.exam.record import ExamRecord, load_exam_record, save_exam_record

__all__ = [
    "ExamRecord", "Measurement", "ValueLine", "caption", "labels_for", "load_exam_record", "moved",
    "new_distance", "new_ellipse", "relabelled", "save_exam_record", "value_lines",
]


@dataclass(frozen=True)
class ValueLine:
    """One displayed value of a measurement: name, number, unit, and whether it is calibrated."""

    name: str
    value: float
    unit: str
    calibrated: bool

    def text(self) -> str:
        digits = {"mm": 1, "px": 1, "cm²": 2}.get(self.unit, 0)
        return f"{self.value:.{digits}f} {self.unit}"


def labels_for(kind: str) -> tuple[str, ...]:
    """The biometry labels a caliper of ``kind`` may carry."""
    return DISTANCE_LABELS if kind == "distance" else ELLIPSE_LABELS


def new_distance(loop, frame_index: int, p1_xy, p2_xy, *, label=None, source="manual") -> Measurement:
    """A distance caliper between two image points on ``frame_index`` of ``loop``."""
    return make_distance(loop.sop_instance_uid, int(frame_index), (tuple(p1_xy), tuple(p2_xy)),
                         loop.regions, label=label, source=source)


def new_ellipse(loop, frame_index: int, geometry: dict, *, label=None, source="manual") -> Measurement:
    """An ellipse caliper from ``geometry`` (center_px, semi_axes_px, angle_deg)."""
    return make_ellipse(loop.sop_instance_uid, int(frame_index), geometry["center_px"],
                        geometry["semi_axes_px"], geometry["angle_deg"], loop.regions,
                        label=label, source=source)


def new_measurement(loop, frame_index: int, kind: str, geometry: dict) -> Measurement:
    if kind == "distance":
        p1, p2 = geometry["points_px"]
        return new_distance(loop, frame_index, p1, p2)
    return new_ellipse(loop, frame_index, geometry)


def moved(loop, m: Measurement, geometry: dict) -> Measurement:
    """``m`` re-measured at new geometry (same id and label; an automatic one becomes "edited")."""
    return edit_measurement(m, loop.regions, **geometry)


def relabelled(m: Measurement, label: str | None) -> Measurement:
    """``m`` with a new biometry label (ValueError names the label when it does not fit the kind)."""
    return dataclasses.replace(m, label=label)


def value_lines(m: Measurement) -> list[ValueLine]:
    """The values to show for ``m``: mm and cm² when calibrated, else px and px²."""
    if m.kind == "distance":
        if m.is_calibrated:
            return [ValueLine("Length", float(m.length_mm), "mm", True)]
        return [ValueLine("Length", float(m.length_px), "px", False)]
    if m.is_calibrated:
        return [ValueLine("Perimeter", float(m.perimeter_mm), "mm", True),
                ValueLine("Area", float(m.area_mm2) / 100.0, "cm²", True)]
    return [ValueLine("Perimeter", float(m.perimeter_px), "px", False),
            ValueLine("Area", float(m.area_px2), "px²", False)]


def caption(m: Measurement) -> str:
    """On-image text beside a caliper (the measurement's own display text)."""
    return m.display_text()


def uncalibrated_reason(m: Measurement) -> str:
    return "" if m.is_calibrated else str(m.uncalibrated_reason or "")
