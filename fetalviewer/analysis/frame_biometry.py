"""Per-frame biometry and CHD fields for ``fetalviewer analyze`` and the workspace (JSON-ready dicts).

:func:`biometry_fields` turns a head segmentation's :class:`~fetalviewer.analysis.geometry.EllipseFit`
(in original-frame pixels) into the fields reported for every head frame: the contour polygon, the
ellipse, ``hc_mm``/``bpd_mm``/``ofd_mm``, GA by each formula with its name and citation, and the
discordance with the model's GA; whatever cannot be computed is ``None`` with a reason.
:func:`chd_fields` does the same for a clip's CHD review prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fetalviewer.analysis.biometry import DEFAULT_DISCORDANCE_DAYS, head_biometry, head_biometry_in_regions
from fetalviewer.analysis.chd import ChdReview
from fetalviewer.analysis.estimate import format_weeks_days
from fetalviewer.analysis.geometry import EllipseFit, fit_ellipse_to_mask

MAX_CONTOUR_POINTS = 256
AUTOMATIC_SOURCE = "automatic (head segmentation, ellipse fit; editable)"


def _polygon(contour: np.ndarray, max_points: int) -> list[list[float]]:
    pts = np.asarray(contour, dtype=np.float64).reshape(-1, 2)
    if len(pts) > max_points:
        pts = pts[np.linspace(0, len(pts), max_points, endpoint=False).astype(int)]
    return [[round(float(x), 2), round(float(y), 2)] for x, y in pts]


def fit_head_mask(mask: np.ndarray, crop_box: tuple[int, int, int, int] | None = None) -> EllipseFit:
    """Ellipse of a full-frame head mask (original pixels); ``crop_box`` is the inclusive pixel box
    ``(x0, y0, x1, y1)`` the segmentation model saw: a head touching its edge is refused as cut off."""
    content = None
    if crop_box is not None:
        x0, y0, x1, y1 = (int(v) for v in crop_box)
        content = (float(x0), float(y0), float(x1 + 1), float(y1 + 1))
    return fit_ellipse_to_mask(mask, content_box_px=content)


def _empty(reason: str, contour: list | None = None) -> dict[str, Any]:
    return {
        "contour_px": contour,
        "ellipse": None,
        "hc_mm": None,
        "bpd_mm": None,
        "ofd_mm": None,
        "biometry_unavailable_reason": reason,
        "ga_formulas": [],
        "ga_discordance": None,
        "ga_discordance_flag": None,
    }


def biometry_fields(
    fit: EllipseFit | None,
    *,
    regions: Sequence[Any] | None = None,
    pixel_size_mm: float | None = None,
    pixel_spacing_mm: tuple[float, float] | None = None,
    model_ga_days: float | None = None,
    discordance_threshold_days: float = DEFAULT_DISCORDANCE_DAYS,
    unavailable_reason: str | None = None,
    max_contour_points: int = MAX_CONTOUR_POINTS,
) -> dict[str, Any]:
    """The biometry fields of one frame.

    Calibration, in order: ``pixel_size_mm`` (a plain image's isotropic size, given by the user), else the
    ultrasound ``regions`` holding the whole ellipse (``pixel_spacing_mm`` only when there are no
    regions). No calibration: contour, ellipse and pixel values are given, mm and GA are None with
    the reason. ``fit=None`` means no segmentation ran (``unavailable_reason`` says why).
    """
    if fit is None:
        return _empty(unavailable_reason or "no head segmentation for this frame")
    contour = _polygon(fit.contour_px, max_contour_points) if len(fit.contour_px) else None
    if fit.ellipse is None:
        return _empty(f"no measurement: {fit.reason}", contour)
    if pixel_size_mm is not None:
        from fetalviewer.dicom.calibration import Calibration

        cal = Calibration(float(pixel_size_mm), float(pixel_size_mm), "pixel size given by the user", None)
        bio = head_biometry(fit.ellipse, cal)
    else:
        bio = head_biometry_in_regions(fit.ellipse, regions, pixel_spacing_mm)
    out = _empty(bio.uncalibrated_reason or "", contour)
    out.update(
        ellipse=fit.ellipse.to_dict(),
        ellipse_fit_rms_px=fit.rms_residual_px,
        hc_px=bio.hc_px,
        bpd_px=bio.bpd_px,
        ofd_px=bio.ofd_px,
        measurement_source=AUTOMATIC_SOURCE,
    )
    if bio.hc_mm is None:
        out["biometry_unavailable_reason"] = f"no mm and no GA: {bio.uncalibrated_reason}"
        return out
    discordances = bio.discordance(model_ga_days, discordance_threshold_days)
    out.update(
        hc_mm=bio.hc_mm,
        bpd_mm=bio.bpd_mm,
        ofd_mm=bio.ofd_mm,
        bpd_convention="outer-outer (outer skull outline)",
        bpd_outer_inner_mm=bio.bpd_outer_inner_mm,
        mm_per_px=list(bio.mm_per_px),
        calibration_source=getattr(bio.calibration, "source", None),
        biometry_unavailable_reason=None,
        ga_formulas=[
            {
                "method": e.method,
                "ga_days": e.value,
                "ga_weeks_days": format_weeks_days(e.value) if e.ok else None,
                "citation": e.citation,
                "unavailable_reason": e.reason,
                "plus_minus_days": e.plus_minus,
            }
            for e in bio.ga
        ],
        ga_discordance=[d.to_dict() for d in discordances],
        ga_discordance_flag=(
            None if all(d.flag is None for d in discordances) else any(d.flag for d in discordances)
        ),
    )
    return out


def chd_fields(review: ChdReview | None, reason: str | None = None) -> dict[str, Any]:
    """The CHD fields of a clip (or why there are none)."""
    if review is None:
        why = reason or "not a heart clip"
        return {
            "chd_score_0_1": None,
            "chd_review_flag": None,
            "chd_text": None,
            "chd_unavailable_reason": why,
        }
    return {
        "chd_score_0_1": review.score_0_1,
        "chd_review_flag": review.flag,
        "chd_text": review.text,
        "chd_threshold_0_1": review.threshold_0_1,
        "chd_method": review.method,
        "chd_unavailable_reason": review.reason,
    }
