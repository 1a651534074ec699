"""Head biometry, BPD conventions, the measurement table, discordance, CHD prompt, best frames."""

from __future__ import annotations

import math

import pytest

from fetalviewer.analysis.best_frames import best_frames
from fetalviewer.analysis.biometry import (
    bpd_outer_inner_from_outer_outer_mm,
    bpd_outer_outer_from_outer_inner_mm,
    ga_discordance,
    head_biometry,
    head_biometry_in_regions,
    head_measurements,
)
from fetalviewer.analysis.chd import NO_HEAD_REASON, chd_review, clip_chd_score
from fetalviewer.analysis.dating import ga_hadlock1984, hadlock1984_bpd_weeks, hadlock1984_hc_weeks
from fetalviewer.analysis.geometry import Ellipse, ramanujan_perimeter
from fetalviewer.analysis.measurement import make_distance, make_ellipse
from fetalviewer.analysis.measurement_table import OUTER_OUTER, MeasurementTable
from fetalviewer.dicom.calibration import Calibration
from fetalviewer.dicom.regions import UltrasoundRegion


def _region(dx_cm=0.01, dy_cm=0.01):
    return UltrasoundRegion(
        index=0,
        x0=0,
        y0=0,
        x1=799,
        y1=599,
        spatial_format=1,
        data_type=1,
        units_x=3,
        units_y=3,
        physical_delta_x=dx_cm,
        physical_delta_y=dy_cm,
    )


REG = [_region()]  # 0.1 mm / px


def test_wong_conversion_round_trip():
    assert bpd_outer_outer_from_outer_inner_mm(50.0) == pytest.approx(0.555934 + 1.027318 * 50)
    assert bpd_outer_inner_from_outer_outer_mm(bpd_outer_outer_from_outer_inner_mm(47.3)) == pytest.approx(
        47.3
    )


def test_head_biometry_isotropic():
    e = Ellipse((400, 300), (420, 250), 20)  # crosses the left edge of the 800x600 region
    bio = head_biometry_in_regions(Ellipse((400, 300), (290, 240), 20), REG)
    assert bio.uncalibrated_reason is None and bio.mm_per_px == (0.1, 0.1)
    assert bio.hc_mm == pytest.approx(ramanujan_perimeter(29.0, 24.0))
    assert bio.bpd_mm == pytest.approx(48.0) and bio.ofd_mm == pytest.approx(58.0)
    assert bio.cephalic_index == pytest.approx(100 * 48 / 58)
    methods = [g.method for g in bio.ga]
    assert methods == ["Hadlock 1984 (HC)", "INTERGROWTH-21st 2016 (HC)"]
    assert bio.ga[0].value == pytest.approx(hadlock1984_hc_weeks(bio.hc_mm / 10) * 7)
    # BPD endpoints lie on the ellipse, across the minor axis.
    (p, q) = bio.bpd_endpoints_px
    assert math.dist(p, q) == pytest.approx(480.0)
    # The ellipse here leaves the 800x600 region: uncalibrated, with the reason, no mm and no GA.
    out = head_biometry_in_regions(e, REG)
    assert out.hc_mm is None and out.ga == () and "uncalibrated" in out.uncalibrated_reason
    assert out.hc_px == pytest.approx(ramanujan_perimeter(420, 250))


def test_head_biometry_anisotropic_reads_the_mm_ellipse():
    cal = Calibration(0.1, 0.2, "test", 0)
    bio = head_biometry(Ellipse((400, 300), (200, 100), 0), cal)
    # Axis-aligned: the mm ellipse has semi-axes 20 mm (x) and 20 mm (y): a circle.
    assert bio.bpd_mm == pytest.approx(40.0) and bio.ofd_mm == pytest.approx(40.0)
    assert bio.hc_mm == pytest.approx(2 * math.pi * 20)
    bio2 = head_biometry(Ellipse((400, 300), (150, 100), 90), cal)  # major axis along y
    assert bio2.ofd_mm == pytest.approx(60.0) and bio2.bpd_mm == pytest.approx(20.0)
    # The BPD distance measurement built from the endpoints measures the same BPD.
    m = make_distance("1.2", 0, bio2.bpd_endpoints_px, [_region(0.01, 0.02)], label="BPD")
    assert m.length_mm == pytest.approx(bio2.bpd_mm)


def test_head_measurements_feed_the_table():
    bio = head_biometry_in_regions(Ellipse((400, 300), (290, 240), 20), REG)
    ms = head_measurements(bio, "1.2.3", 4, REG)
    assert [(m.label, m.kind, m.source) for m in ms] == [
        ("HC", "ellipse", "automatic"),
        ("BPD", "distance", "automatic"),
        ("OFD", "distance", "automatic"),
    ]
    assert ms[0].perimeter_mm == pytest.approx(bio.hc_mm)
    assert ms[1].length_mm == pytest.approx(bio.bpd_mm) and ms[2].length_mm == pytest.approx(bio.ofd_mm)
    table = MeasurementTable(ms, model_ga_days=200)
    assert table.rows["BPD"].convention == OUTER_OUTER
    assert table.rows["BPD"].value_for_hadlock_mm == pytest.approx(bpd_outer_inner_from_outer_outer_mm(48.0))
    bpd_ga = table.rows["BPD"].ga[0]
    assert bpd_ga.value == pytest.approx(
        hadlock1984_bpd_weeks(bpd_outer_inner_from_outer_outer_mm(48.0) / 10) * 7
    )
    assert table.rows["OFD"].ga == ()
    assert table.combined_ga.method == "Hadlock 1984 (HC)"  # BPD+HC has no equation: HC
    assert table.efw == ()
    d = table.discordance
    assert d.flag is True and d.difference_days == pytest.approx(200 - table.combined_ga.value)


def test_table_precedence_averaging_and_exclusions():
    auto_hc = make_ellipse("1", 0, (400, 300), (290, 240), 0, REG, label="HC", source="automatic")
    hc1 = make_ellipse("1", 0, (400, 300), (280, 240), 0, REG, label="HC")
    hc2 = make_ellipse("1", 1, (400, 300), (300, 240), 0, REG, label="HC")
    ac = make_ellipse("1", 2, (400, 300), (300, 260), 0, REG, label="AC")
    fl = make_distance("1", 3, ((100, 100), (430, 100)), REG, label="FL")
    bpd = make_distance("1", 0, ((100, 100), (100, 570)), REG, label="BPD")
    uncal = make_distance("1", 0, ((100, 100), (900, 100)), REG, label="FL")  # leaves the region
    unlabelled = make_distance("1", 0, ((0, 0), (10, 10)), REG)
    table = MeasurementTable([auto_hc, hc1, hc2, ac, fl, bpd, uncal, unlabelled], model_ga_days=None)
    hc = table.rows["HC"]
    assert hc.source == "manual" and hc.n_measurements == 2
    assert hc.value_mm == pytest.approx((hc1.perimeter_mm + hc2.perimeter_mm) / 2)
    assert auto_hc.measurement_id not in hc.measurement_ids
    assert [e.method for e in hc.ga] == [
        "Hadlock 1984 (HC)",
        "INTERGROWTH-21st 2016 (HC)",
        "WHO 2017 HC median (inverted)",
    ]
    assert table.rows["BPD"].convention == "outer-inner" and table.rows[
        "BPD"
    ].value_for_hadlock_mm == pytest.approx(47.0)
    assert [(x.measurement_id, x.label) for x in table.excluded] == [(uncal.measurement_id, "FL")]
    assert table.rows["FL"].n_measurements == 1 and table.rows["FL"].value_mm == pytest.approx(33.0)
    combined = table.combined_ga
    assert combined.method == "Hadlock 1984 (BPD+HC+AC+FL)"
    assert combined.value == pytest.approx(
        ga_hadlock1984({"BPD": 47.0, "HC": hc.value_mm, "AC": ac.perimeter_mm, "FL": 33.0}).value
    )
    assert [e.method for e in table.efw] == ["Hadlock 1985 (BPD+HC+AC+FL)", "INTERGROWTH-21st 2017 (AC+HC)"]
    assert table.intergrowth_hc_fl is not None
    assert table.discordance.flag is None and "no model GA" in table.discordance.reason
    d = table.to_dict()
    assert [p["label"] for p in d["parameters"]] == ["BPD", "HC", "AC", "FL"]
    # Edited automatic BPD and a manual one: averaged in outer-inner.
    auto_bpd = make_distance("1", 0, ((200, 100), (200, 590)), REG, label="BPD", source="edited")
    mixed = MeasurementTable([bpd, auto_bpd], manual_bpd_convention="outer-inner")
    assert mixed.rows["BPD"].source == "manual+edited"
    assert mixed.rows["BPD"].value_mm == pytest.approx((47.0 + bpd_outer_inner_from_outer_outer_mm(49.0)) / 2)
    with pytest.raises(ValueError, match="manual_bpd_convention"):
        MeasurementTable([], manual_bpd_convention="inner")


def test_discordance_threshold():
    est = ga_hadlock1984({"HC": 175})
    assert ga_discordance(est, est.value + 14).flag is False
    assert ga_discordance(est, est.value + 14.5).flag is True
    assert ga_discordance(est, est.value - 20, threshold_days=21).flag is False
    refused = ga_discordance(ga_hadlock1984({"HC": 20}), 150)
    assert refused.flag is None and "68-360" in refused.reason and "not checked" in refused.display_text()
    with pytest.raises(ValueError, match="threshold_days"):
        ga_discordance(est, 100, threshold_days=0)


def test_chd_review_is_a_prompt_never_a_diagnosis():
    assert clip_chd_score([0.2, 0.9, 0.7], [False, True, True]) == pytest.approx(0.8)
    assert clip_chd_score([0.2], [False]) is None
    r = chd_review(0.8, 2)
    assert r.flag is True and "review suggested" in r.text and "not a diagnosis" in r.text
    assert "diagnosed" not in r.text.lower()
    low = chd_review(0.3, 5)
    assert low.flag is False and "does not exclude" in low.text
    none = chd_review(None, 0, head_installed=False)
    assert none.flag is None and none.reason == NO_HEAD_REASON and "train-head chd" in none.text
    assert chd_review(0.9, 0).flag is None
    assert chd_review(0.9, 3, min_heart_frames=4).reason.startswith("the clip has 3 heart frame")
    with pytest.raises(ValueError, match="head_score_0_1"):
        chd_review(1.5, 3)
    with pytest.raises(ValueError, match="is_heart_frame"):
        clip_chd_score([0.1, 0.2], [True])


def test_best_frames_per_plane():
    frames = [
        (("a", 0), {"brain": 0.6, "heart": 0.3, "abdomen": 0.1}),
        (("a", 1), {"brain": 0.9, "heart": 0.05, "abdomen": 0.05}),
        (("b", 0), {"brain": 0.2, "heart": 0.35, "abdomen": 0.45}),
        (("b", 1), {"brain": 0.9, "heart": 0.05, "abdomen": 0.05}),
    ]
    best = best_frames(frames)
    assert best["brain"].key == ("a", 1) and best["brain"].prob_0_1 == 0.9  # tie: earliest
    assert best["heart"].key == ("b", 0) and best["abdomen"].key == ("b", 0)
    top = best_frames(frames, top_only=True)
    assert "heart" not in top and top["abdomen"].key == ("b", 0)
    assert set(best_frames(frames, min_prob_0_1=0.5)) == {"brain"}
