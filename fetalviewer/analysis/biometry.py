"""Head biometry from a fitted skull ellipse, the BPD caliper conversion, and GA discordance.

Caliper convention. The ellipse is fitted to the *outer* edge of the skull (HC18 annotations and the
segmentation heads trace the outer skull), so its axes give outer-to-outer diameters: ``bpd_mm`` (minor
axis) and ``ofd_mm`` (major axis) are outer-outer, the convention of INTERGROWTH-21st. Hadlock 1984's BPD
is outer-to-inner (leading edge to leading edge); before a BPD from the outline enters a Hadlock
equation it is converted with Wong 2018's ``BPD_oo = 0.555934 + 1.027318 BPD_oi`` (mm; docs/formulas.md) solved for ``BPD_oi``. HC needs no convention: it is the perimeter of
the outer ellipse (Ramanujan II).

Anisotropic calibration: the ellipse is mapped into mm coordinates first (an affine image of an
ellipse is an ellipse), and HC, BPD and OFD are read off the mm ellipse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fetalviewer.analysis.dating import ga_hadlock1984, ga_intergrowth2016_hc
from fetalviewer.analysis.estimate import Estimate
from fetalviewer.analysis.geometry import Ellipse, ramanujan_perimeter
from fetalviewer.analysis.measurement import Measurement, make_distance, make_ellipse

DEFAULT_DISCORDANCE_DAYS = 14.0


def bpd_outer_outer_from_outer_inner_mm(bpd_outer_inner_mm: float) -> float:
    """Wong 2018: ``BPD_oo = 0.555934 + 1.027318 BPD_oi`` (mm)."""
    return 0.555934 + 1.027318 * float(bpd_outer_inner_mm)


def bpd_outer_inner_from_outer_outer_mm(bpd_outer_outer_mm: float) -> float:
    """Wong 2018 solved for the outer-inner BPD (mm)."""
    return (float(bpd_outer_outer_mm) - 0.555934) / 1.027318


@dataclass(frozen=True)
class Discordance:
    """Formula GA versus model GA; ``flag`` is None (with ``reason``) when either is unavailable."""

    formula_method: str
    formula_ga_days: float | None
    model_ga_days: float | None
    threshold_days: float
    difference_days: float | None
    flag: bool | None
    reason: str | None = None

    def display_text(self) -> str:
        if self.flag is None:
            return f"GA discordance not checked: {self.reason}"
        verdict = "DISCORDANT" if self.flag else "concordant"
        return (
            f"{verdict}: model GA minus {self.formula_method} = {self.difference_days:+.1f} d "
            f"(threshold {self.threshold_days:g} d)"
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def ga_discordance(
    formula: Estimate, model_ga_days: float | None, threshold_days: float = DEFAULT_DISCORDANCE_DAYS
) -> Discordance:
    """Flag when ``|model GA - formula GA| > threshold_days`` (default 14 days)."""
    if not (isinstance(threshold_days, (int, float)) and threshold_days > 0):
        raise ValueError(f"threshold_days must be > 0, got {threshold_days!r}")
    reason = None
    if formula.value is None:
        reason = f"{formula.method} unavailable ({formula.reason})"
    elif model_ga_days is None:
        reason = "no model GA for this frame"
    if reason:
        return Discordance(
            formula.method, formula.value, model_ga_days, float(threshold_days), None, None, reason
        )
    diff = float(model_ga_days) - float(formula.value)
    return Discordance(
        formula.method,
        formula.value,
        float(model_ga_days),
        float(threshold_days),
        diff,
        abs(diff) > threshold_days,
    )


@dataclass(frozen=True)
class HeadBiometry:
    """HC, BPD (outer-outer) and OFD of one skull ellipse, in px and, when calibrated, mm; GA from HC."""

    ellipse: Ellipse
    mm_per_px: tuple[float, float] | None
    uncalibrated_reason: str | None
    hc_px: float
    bpd_px: float
    ofd_px: float
    hc_mm: float | None
    bpd_mm: float | None
    ofd_mm: float | None
    bpd_endpoints_px: tuple[tuple[float, float], tuple[float, float]]
    ofd_endpoints_px: tuple[tuple[float, float], tuple[float, float]]
    ga: tuple[Estimate, ...]
    calibration: Any = None

    @property
    def bpd_outer_inner_mm(self) -> float | None:
        return None if self.bpd_mm is None else bpd_outer_inner_from_outer_outer_mm(self.bpd_mm)

    @property
    def cephalic_index(self) -> float:
        """BPD / OFD x 100 (outer-outer both), from the mm ellipse when calibrated."""
        return 100.0 * (self.bpd_mm / self.ofd_mm if self.bpd_mm else self.bpd_px / self.ofd_px)

    def discordance(self, model_ga_days: float | None, threshold_days: float = DEFAULT_DISCORDANCE_DAYS):
        """One :class:`Discordance` per GA estimate of this head."""
        return tuple(ga_discordance(e, model_ga_days, threshold_days) for e in self.ga)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ellipse": self.ellipse.to_dict(),
            "mm_per_px": None if self.mm_per_px is None else list(self.mm_per_px),
            "uncalibrated_reason": self.uncalibrated_reason,
            "hc_px": self.hc_px,
            "bpd_px": self.bpd_px,
            "ofd_px": self.ofd_px,
            "hc_mm": self.hc_mm,
            "bpd_mm": self.bpd_mm,
            "ofd_mm": self.ofd_mm,
            "bpd_convention": "outer-outer (from the outer skull outline)",
            "bpd_outer_inner_mm": self.bpd_outer_inner_mm,
            "bpd_endpoints_px": [list(p) for p in self.bpd_endpoints_px],
            "ofd_endpoints_px": [list(p) for p in self.ofd_endpoints_px],
            "ga": [e.to_dict() for e in self.ga],
        }


def head_biometry(
    ellipse: Ellipse, calibration: Any = None, uncalibrated_reason: str | None = None
) -> HeadBiometry:
    """Biometry of a skull ellipse in original pixels; ``calibration`` has ``mm_per_px_x/_y`` or is None.

    GA: Hadlock 1984 (HC) and INTERGROWTH-21st 2016 (HC), each refused outside its range.
    """
    if not isinstance(ellipse, Ellipse):
        raise TypeError(f"ellipse must be an Ellipse, got {type(ellipse).__name__}")
    a, b = ellipse.semi_axes_px
    (major, minor) = ellipse.axis_endpoints()
    if calibration is None:
        reason = uncalibrated_reason or "no calibration applies to this frame"
        return HeadBiometry(
            ellipse,
            None,
            reason,
            ramanujan_perimeter(a, b),
            2 * b,
            2 * a,
            None,
            None,
            None,
            minor,
            major,
            ga=(),
            calibration=None,
        )
    sx, sy = float(calibration.mm_per_px_x), float(calibration.mm_per_px_y)
    if not (sx > 0 and sy > 0 and math.isfinite(sx) and math.isfinite(sy)):
        raise ValueError(f"calibration mm_per_px must be positive, got {sx!r}, {sy!r}")
    e_mm = ellipse.transformed(sx, sy)
    a_mm, b_mm = e_mm.semi_axes_px
    major_mm, minor_mm = e_mm.axis_endpoints()

    def back(seg):
        return tuple((x / sx, y / sy) for x, y in seg)

    hc_mm = ramanujan_perimeter(a_mm, b_mm)
    ga = (ga_hadlock1984({"HC": hc_mm}), ga_intergrowth2016_hc(hc_mm))
    return HeadBiometry(
        ellipse,
        (sx, sy),
        None,
        ramanujan_perimeter(a, b),
        2 * b,
        2 * a,
        hc_mm,
        2 * b_mm,
        2 * a_mm,
        back(minor_mm),
        back(major_mm),
        ga,
        calibration,
    )


def head_biometry_in_regions(
    ellipse: Ellipse, regions: Sequence[Any] | None, pixel_spacing_mm: tuple[float, float] | None = None
) -> HeadBiometry:
    """:func:`head_biometry` calibrated by the ultrasound region holding the whole ellipse (contract 1)."""
    from fetalviewer.dicom.calibration import calibration_for_points

    result = calibration_for_points(tuple(regions or ()), ellipse.bounding_points(), pixel_spacing_mm)
    return head_biometry(ellipse, result.calibration, result.reason)


def head_measurements(
    bio: HeadBiometry,
    sop_instance_uid: str,
    frame_index: int,
    regions: Sequence[Any] | None,
    pixel_spacing_mm: tuple[float, float] | None = None,
) -> list[Measurement]:
    """The automatic HC ellipse and BPD/OFD distances of a head, ready for the exam record and the table."""
    e = bio.ellipse
    common = dict(source="automatic", pixel_spacing_mm=pixel_spacing_mm)
    return [
        make_ellipse(
            sop_instance_uid,
            frame_index,
            e.center_px,
            e.semi_axes_px,
            e.angle_deg,
            regions,
            label="HC",
            **common,
        ),
        make_distance(sop_instance_uid, frame_index, bio.bpd_endpoints_px, regions, label="BPD", **common),
        make_distance(sop_instance_uid, frame_index, bio.ofd_endpoints_px, regions, label="OFD", **common),
    ]
