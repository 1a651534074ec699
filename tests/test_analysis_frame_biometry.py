"""Per-frame biometry/CHD fields for analyze: calibrated, uncalibrated, refused contours, JSON-ready."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fetalviewer.analysis.chd import chd_review
from fetalviewer.analysis.frame_biometry import biometry_fields, chd_fields, fit_head_mask
from fetalviewer.analysis.geometry import fit_ellipse_to_mask, ramanujan_perimeter
from fetalviewer.dicom.regions import UltrasoundRegion


def _head_mask(shape=(540, 800), center=(400.0, 270.0), axes=(230.0, 190.0), angle=15.0):
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    x, y = cols + 0.5 - center[0], rows + 0.5 - center[1]
    t = math.radians(angle)
    u = x * math.cos(t) + y * math.sin(t)
    v = -x * math.sin(t) + y * math.cos(t)
    return ((u / axes[0]) ** 2 + (v / axes[1]) ** 2 <= 1).astype(np.uint8)


def test_calibrated_frame_has_all_fields_and_is_json_ready():
    fit = fit_ellipse_to_mask(_head_mask())
    region = UltrasoundRegion(0, 0, 0, 799, 539, 1, 1, 3, 3, 0.008, 0.008)  # 0.08 mm/px
    rec = biometry_fields(fit, regions=[region], model_ga_days=110)
    json.dumps(rec)
    assert rec["hc_mm"] == pytest.approx(ramanujan_perimeter(230 * 0.08, 190 * 0.08), rel=2e-3)
    assert rec["bpd_mm"] == pytest.approx(2 * 190 * 0.08, rel=2e-3)
    assert rec["ofd_mm"] == pytest.approx(2 * 230 * 0.08, rel=2e-3)
    assert rec["biometry_unavailable_reason"] is None
    assert [g["method"] for g in rec["ga_formulas"]] == ["Hadlock 1984 (HC)", "INTERGROWTH-21st 2016 (HC)"]
    assert all(g["citation"] for g in rec["ga_formulas"])
    # HC ~106 mm -> Hadlock 105 d, INTERGROWTH 103 d; a model GA of 110 d is within 14 d of both.
    assert rec["ga_discordance_flag"] is False
    assert 20 <= len(rec["contour_px"]) <= 256
    assert rec["ellipse"]["semi_axes_px"] == pytest.approx([230, 190], abs=0.3)
    assert biometry_fields(fit, regions=[region], model_ga_days=119)["ga_discordance_flag"] is True
    no_model = biometry_fields(fit, regions=[region])
    assert no_model["ga_discordance_flag"] is None
    assert "no model GA" in no_model["ga_discordance"][0]["reason"]


def test_pixel_size_and_uncalibrated():
    fit = fit_ellipse_to_mask(_head_mask())
    rec = biometry_fields(fit, pixel_size_mm=0.1)
    assert rec["hc_mm"] == pytest.approx(ramanujan_perimeter(23.0, 19.0), rel=2e-3)
    unc = biometry_fields(fit, regions=None)
    assert unc["hc_mm"] is None and unc["ga_formulas"] == []
    assert unc["contour_px"] and unc["ellipse"] and unc["hc_px"] > 0
    assert "no mm and no GA" in unc["biometry_unavailable_reason"]


def test_refused_contour_and_missing_segmentation():
    cut = _head_mask(center=(100.0, 270.0))  # runs off the left edge
    rec = biometry_fields(fit_ellipse_to_mask(cut), pixel_size_mm=0.1)
    assert rec["ellipse"] is None and rec["hc_mm"] is None and rec["contour_px"]
    assert rec["biometry_unavailable_reason"].startswith(
        "no measurement: the outline touches the image border"
    )
    none = biometry_fields(None, unavailable_reason="no head segmentation model installed")
    assert none["biometry_unavailable_reason"] == "no head segmentation model installed"


def test_chd_fields():
    assert (
        chd_fields(None, "no CHD head is installed")["chd_unavailable_reason"] == "no CHD head is installed"
    )
    f = chd_fields(chd_review(0.7, 12))
    assert f["chd_review_flag"] is True and f["chd_score_0_1"] == 0.7 and "not a diagnosis" in f["chd_text"]
    json.dumps(f)


def test_fit_head_mask_honours_the_model_crop_box():
    mask = _head_mask()  # x 170..630, y 80..460
    assert fit_head_mask(mask, crop_box=(0, 0, 799, 539)).ok
    assert fit_head_mask(mask, crop_box=(100, 50, 699, 489)).ok
    cut = fit_head_mask(mask, crop_box=(200, 0, 799, 539))
    assert not cut.ok and "border" in cut.reason
