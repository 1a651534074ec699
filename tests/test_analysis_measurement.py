"""Measurements: values in px and mm (isotropic and anisotropic), calibration, edits, round trip."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fetalviewer.analysis.geometry import Ellipse, ramanujan_perimeter
from fetalviewer.analysis.measurement import (
    DistanceMeasurement,
    EllipseMeasurement,
    Measurement,
    MeasurementKind,
    MeasurementSource,
    edit_measurement,
    make_distance,
    make_ellipse,
)
from fetalviewer.dicom.regions import UltrasoundRegion


def _region(delta_x_cm: float, delta_y_cm: float) -> UltrasoundRegion:
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
        physical_delta_x=delta_x_cm,
        physical_delta_y=delta_y_cm,
    )


ISO = _region(0.01, 0.01)  # 0.1 mm per pixel
ANISO = _region(0.01, 0.02)  # 0.1 mm in x, 0.2 mm in y


def _polygon_perimeter_mm(center, axes, angle_deg, sx, sy, n=200_000):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    th = math.radians(angle_deg)
    x = center[0] + axes[0] * np.cos(t) * math.cos(th) - axes[1] * np.sin(t) * math.sin(th)
    y = center[1] + axes[0] * np.cos(t) * math.sin(th) + axes[1] * np.sin(t) * math.cos(th)
    pts = np.stack([x * sx, y * sy], axis=1)
    return float(np.linalg.norm(np.roll(pts, -1, axis=0) - pts, axis=1).sum())


def test_ramanujan_matches_numeric_integration():
    assert ramanujan_perimeter(5, 5) == pytest.approx(2 * math.pi * 5, rel=1e-12)
    # Ramanujan II is near exact at head/abdomen aspect ratios, ~4e-6 relative off at 7:1.
    for a, b, rel in [(10, 8, 1e-9), (100, 80, 1e-9), (10, 3, 1e-7), (7, 1, 1e-5)]:
        exact = _polygon_perimeter_mm((0, 0), (a, b), 0, 1, 1, n=400_000)
        assert ramanujan_perimeter(a, b) == pytest.approx(exact, rel=rel)
    with pytest.raises(ValueError, match="semi-axes"):
        ramanujan_perimeter(-1, 2)


def test_distance_isotropic_and_anisotropic():
    m = make_distance("1.2.3", 0, ((10, 20), (13, 24)), [ISO], label="FL")
    assert m.length_px == pytest.approx(5.0)
    assert m.length_mm == pytest.approx(0.5)
    assert m.is_calibrated and m.uncalibrated_reason is None
    a = make_distance("1.2.3", 0, ((10, 20), (13, 24)), [ANISO], label="FL")
    assert a.length_px == pytest.approx(5.0)
    assert a.length_mm == pytest.approx(math.hypot(0.3, 0.8))
    assert a.display_text() == f"FL {math.hypot(0.3, 0.8):.1f} mm"


@pytest.mark.parametrize("angle", [0.0, 17.0, 45.0, 90.0, 133.0])
def test_ellipse_anisotropic_is_exact(angle):
    center, axes = (400.0, 300.0), (120.0, 90.0)
    m = make_ellipse("1.2.3", 2, center, axes, angle, [ANISO], label="HC")
    poly = _polygon_perimeter_mm(center, axes, angle, 0.1, 0.2)
    assert m.perimeter_mm == pytest.approx(poly, rel=1e-6)
    assert m.area_mm2 == pytest.approx(math.pi * 120 * 90 * 0.1 * 0.2)
    assert m.perimeter_px == pytest.approx(ramanujan_perimeter(120, 90))
    assert not hasattr(m, "length_mm") and not hasattr(m, "length_px")  # an ellipse has no length


def test_ellipse_isotropic_is_ramanujan_times_scale():
    m = make_ellipse("1.2.3", 0, (400, 300), (120, 90), 30, [ISO], label="AC")
    assert m.perimeter_mm == pytest.approx(ramanujan_perimeter(12.0, 9.0), rel=1e-12)
    assert m.axes_mm == pytest.approx((12.0, 9.0))
    assert m.value_mm == m.perimeter_mm


def test_ellipse_axes_mm_of_a_circle_under_anisotropy():
    s1, s2 = Ellipse((0.0, 0.0), (10.0, 10.0), 33.0).transformed(0.1, 0.3).semi_axes_px
    assert (s1, s2) == pytest.approx((3.0, 1.0))
    m = make_ellipse("1.2", 0, (100, 100), (10, 10), 33.0, [_region(0.01, 0.03)], label="HC")
    assert m.axes_mm == pytest.approx((3.0, 1.0))


def test_uncalibrated_reports_reason_and_pixels():
    m = make_distance("1.2.3", 0, ((0, 0), (30, 40)), None)
    assert m.length_mm is None and m.length_px == pytest.approx(50.0)
    assert "no ultrasound regions" in m.uncalibrated_reason
    assert m.display_text() == "Distance 50.0 px (uncalibrated)"
    # An ellipse that leaves the region is not calibrated by it.
    e = make_ellipse("1.2.3", 0, (50, 50), (80, 20), 0, [ISO], label="HC")
    assert e.perimeter_mm is None and e.area_mm2 is None
    assert e.uncalibrated_reason
    inside = make_ellipse("1.2.3", 0, (100, 100), (80, 20), 0, [ISO], label="HC")
    assert inside.is_calibrated


def test_round_trip_through_json():
    for m in (
        make_distance("1.2.3", 4, ((1.5, 2.5), (100.25, 3)), [ANISO], label="BPD"),
        make_ellipse("1.2.3", 0, (400, 300), (120, 90), 12.5, [ANISO], label="HC", source="automatic"),
        make_distance("1.2.3", 0, ((1, 2), (3, 4)), None),
    ):
        back = Measurement.from_dict(json.loads(json.dumps(m.to_dict())))
        assert back == m
        assert back.value_mm == m.value_mm
        assert back.uncalibrated_reason == m.uncalibrated_reason


def test_edit_keeps_automatic_values():
    auto = make_ellipse("1.2.3", 0, (400, 300), (120, 90), 0, [ISO], label="HC", source="automatic")
    edited = edit_measurement(auto, [ISO], semi_axes_px=(130, 90))
    assert edited.source == "edited" and edited.measurement_id == auto.measurement_id
    assert edited.automatic_values["value_mm"] == pytest.approx(auto.perimeter_mm)
    assert edited.automatic_values["semi_axes_px"] == [120.0, 90.0]
    assert edited.perimeter_mm > auto.perimeter_mm
    again = edit_measurement(edited, [ISO], angle_deg=10)
    assert again.automatic_values == edited.automatic_values
    assert "(edited)" in again.display_text()
    manual = make_distance("1.2.3", 0, ((0, 0), (10, 0)), [ISO], label="FL")
    assert edit_measurement(manual, [ISO], points_px=((0, 0), (20, 0))).source == "manual"
    with pytest.raises(ValueError, match="points_px"):
        edit_measurement(manual, [ISO], center_px=(1, 1))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(label="HC"), "label"),
        (dict(frame_index=-1), "frame_index"),
        (dict(source="guess"), "source"),
        (dict(points_px=((0, 0), (float("nan"), 1))), "points_px"),
        (dict(measurement_id=""), "measurement_id"),
    ],
)
def test_constructor_validates(kwargs, match):
    base = dict(
        measurement_id="m1",
        sop_instance_uid="1.2",
        frame_index=0,
        points_px=((0, 0), (1, 1)),
    )
    base.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        DistanceMeasurement(**base)


def test_ellipse_validation():
    with pytest.raises(ValueError, match="semi_axes_px"):
        make_ellipse("1.2", 0, (1, 1), (0, 3), 0, None)
    with pytest.raises(TypeError, match="angle_deg"):
        make_ellipse("1.2", 0, (1, 1), (2, 1), "x", None)
    with pytest.raises(TypeError, match="ellipse"):
        EllipseMeasurement(measurement_id="m", sop_instance_uid="1.2", frame_index=0, ellipse=(1, 1))
    with pytest.raises(TypeError, match="abstract"):
        Measurement(measurement_id="m", sop_instance_uid="1.2", frame_index=0)


def test_pixel_spacing_used_only_without_regions():
    m = make_distance("1.2.3", 0, ((10, 20), (13, 24)), None, pixel_spacing_mm=(0.2, 0.1))
    assert m.length_mm == pytest.approx(math.hypot(0.3, 0.8))
    assert "PixelSpacing" in m.calibration.source
    edited = edit_measurement(m, None, pixel_spacing_mm=(0.2, 0.1), points_px=((10, 20), (10, 30)))
    assert edited.length_mm == pytest.approx(2.0)
    with_regions = make_distance("1.2.3", 0, ((10, 20), (13, 24)), [ISO], pixel_spacing_mm=(0.2, 0.1))
    assert with_regions.length_mm == pytest.approx(0.5)


def test_kind_and_source_are_enums_written_as_their_strings():
    m = make_ellipse("1.2.3", 0, (400, 300), (120, 90), 12.5, [ISO], label="HC", source="automatic")
    assert m.kind is MeasurementKind.ELLIPSE and m.source is MeasurementSource.AUTOMATIC
    assert m.source.from_algorithm and not MeasurementSource.MANUAL.from_algorithm
    d = json.loads(json.dumps(m.to_dict()))
    assert (d["kind"], d["source"]) == ("ellipse", "automatic") and f"{m.kind}/{m.source}" == "ellipse/automatic"
    with pytest.raises(ValueError, match="kind must be one of"):
        Measurement.from_dict({**d, "kind": "line"})


def test_record_entries_written_before_the_classes_still_load():
    """Exam-record measurement entries in the format the app has always written."""
    old_distance = {
        "measurement_id": "a1", "kind": "distance", "sop_instance_uid": "1.2.3", "frame_index": 4,
        "label": "FL", "source": "manual", "automatic_values": None, "uncalibrated_reason": None,
        "points_px": [[10.0, 20.0], [13.0, 24.0]],
        "calibration": {"mm_per_px_x": 0.1, "mm_per_px_y": 0.1, "source": "region 0", "region_index": 0},
    }  # fmt: skip
    old_ellipse = {
        "measurement_id": "b2", "kind": "ellipse", "sop_instance_uid": "1.2.3", "frame_index": 0,
        "label": "HC", "source": "edited", "calibration": None, "uncalibrated_reason": "no regions",
        "automatic_values": {"center_px": [1, 2], "semi_axes_px": [3, 2], "angle_deg": 0, "value_mm": None},
        "center_px": [400.0, 300.0], "semi_axes_px": [90.0, 120.0], "angle_deg": 10.0,
    }  # fmt: skip
    d = Measurement.from_dict(old_distance)
    assert isinstance(d, DistanceMeasurement) and d.length_mm == pytest.approx(0.5) and d.frame_index == 4
    e = Measurement.from_dict(old_ellipse)
    assert isinstance(e, EllipseMeasurement) and e.source is MeasurementSource.EDITED
    # the same ellipse, its major semi-axis first
    assert e.semi_axes_px == (120.0, 90.0) and e.angle_deg == pytest.approx(100.0)
    assert e.perimeter_px == pytest.approx(ramanujan_perimeter(120, 90)) and e.uncalibrated_reason == "no regions"
