"""Geometry: coordinate conventions, ellipses, model-input mapping, mask -> contour -> ellipse."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fetalviewer.analysis.geometry import (
    Ellipse,
    InputMapping,
    cv_to_points,
    fit_ellipse_to_mask,
    fit_ellipse_to_points,
    imageitem_pixel_rect,
    index_to_point,
    outer_contour,
    point_to_index,
    points_to_cv,
    points_to_scoord,
    rc_to_points,
    scoord_to_points,
)


def _raster_ellipse(shape, center, axes, angle_deg):
    """Ideal rasterisation: a pixel is inside when its centre (image coordinates) is."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    x, y = cols + 0.5 - center[0], rows + 0.5 - center[1]
    t = math.radians(angle_deg)
    u = x * math.cos(t) + y * math.sin(t)
    v = -x * math.sin(t) + y * math.cos(t)
    return ((u / axes[0]) ** 2 + (v / axes[1]) ** 2 <= 1.0).astype(np.uint8)


def test_conventions_agree():
    arr = np.zeros((5, 7), np.uint8)
    arr[2, 4] = 1
    assert index_to_point(2, 4) == (4.5, 2.5)
    assert point_to_index(4.5, 2.5) == (2, 4) and point_to_index(4.0, 2.0) == (2, 4)
    assert point_to_index(3.999, 2.0) == (2, 3)
    assert rc_to_points(np.argwhere(arr)).tolist() == [[4.5, 2.5]]
    # pyqtgraph ImageItem draws pixel (2, 4) over x 4..5, y 2..3: its centre is the image point.
    x0, y0, x1, y1 = imageitem_pixel_rect(2, 4)
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == index_to_point(2, 4)
    # cv2 pixel indices are (x=col, y=row) at pixel centres.
    contour = np.array([[[4, 2]]], dtype=np.int32)
    assert cv_to_points(contour).tolist() == [[4.5, 2.5]]
    assert points_to_cv([[4.5, 2.5]]).reshape(-1).tolist() == [4.0, 2.0]
    # SCOORD (column, row) with the top-left pixel's centre at (0.5, 0.5) is image coordinates.
    assert points_to_scoord([[0.5, 0.5], [4.5, 2.5]]) == [0.5, 0.5, 4.5, 2.5]
    assert scoord_to_points([0.5, 0.5, 4.5, 2.5]).tolist() == [[0.5, 0.5], [4.5, 2.5]]
    with pytest.raises(ValueError, match="pairs"):
        scoord_to_points([1.0, 2.0, 3.0])


def test_ellipse_normalises_and_transforms():
    e = Ellipse((10, 20), (3, 5), 10)
    assert e.semi_axes_px == (5.0, 3.0) and e.angle_deg == pytest.approx(100.0)
    major, minor = e.axis_endpoints()
    assert math.dist(*major) == pytest.approx(10.0) and math.dist(*minor) == pytest.approx(6.0)
    assert e.radial_distance(e.sample(64)) == pytest.approx(np.zeros(64), abs=1e-9)
    # An anisotropic transform: sampled points map onto the transformed ellipse.
    t = e.transformed(2.0, 0.5, 3.0, -1.0)
    pts = e.sample(64) * (2.0, 0.5) + (3.0, -1.0)
    assert np.abs(t.radial_distance(pts)).max() < 1e-9
    assert t.area_px2 == pytest.approx(e.area_px2 * 1.0)
    with pytest.raises(ValueError, match="semi_axes_px"):
        Ellipse((0, 0), (0, 1), 0)


def test_input_mapping_square_pad_round_trip():
    m = InputMapping.square_pad(801, 540, 224, crop_x0=10, crop_y0=20)
    assert (m.pad_left, m.pad_top, m.padded_width) == (0, 130, 801)
    orig = np.array([[10.0, 20.0], [811.0, 560.0], [400.25, 300.75]])
    inp = m.to_input(orig)
    assert np.allclose(m.to_original(inp), orig)
    # The crop's top-left corner sits at the top of the content box in the input.
    box = m.image_box_in_input()
    assert inp[0] == pytest.approx(box[:2]) and inp[1] == pytest.approx(box[2:])
    e = Ellipse((112, 112), (50, 40), 30)
    back = m.ellipse_to_original(e)
    assert back.semi_axes_px == pytest.approx((50 * 801 / 224, 40 * 801 / 224))
    assert back.center_px == pytest.approx(tuple(m.to_original([[112, 112]])[0]))
    assert back.angle_deg == pytest.approx(30.0)
    with pytest.raises(ValueError, match="input_width"):
        InputMapping(0, 0, 10, 10, 0, 0, 10, 10, 0, 10)


@pytest.mark.parametrize("angle", [0.0, 25.0, 70.0, 135.0])
def test_mask_fit_recovers_ellipse(angle):
    center, axes = (251.3, 198.7), (140.0, 95.0)
    mask = _raster_ellipse((400, 500), center, axes, angle)
    fit = fit_ellipse_to_mask(mask)
    assert fit.ok, fit.reason
    e = fit.ellipse
    assert e.center_px == pytest.approx(center, abs=0.1)
    assert e.semi_axes_px == pytest.approx(axes, abs=0.15)
    assert (e.angle_deg - angle + 90) % 180 - 90 == pytest.approx(0.0, abs=0.3)
    assert fit.rms_residual_px < 0.5


def test_mask_fit_through_model_input_mapping():
    # A 224 px model mask of a head, mapped back to an 800x540 frame cropped at (40, 30).
    mapping = InputMapping.square_pad(700, 480, 224, crop_x0=40, crop_y0=30)
    truth = Ellipse((420.0, 280.0), (250.0, 180.0), 20.0)
    truth_in = Ellipse(
        tuple(mapping.to_input([truth.center_px])[0]),
        (truth.semi_axes_px[0] / mapping.scale_x, truth.semi_axes_px[1] / mapping.scale_y),
        20.0,
    )
    mask = _raster_ellipse((224, 224), truth_in.center_px, truth_in.semi_axes_px, 20.0)
    fit = fit_ellipse_to_mask(mask, mapping)
    assert fit.ok, fit.reason
    assert fit.ellipse.center_px == pytest.approx(truth.center_px, abs=1.0)
    # Quantisation at 224 px: within half an input pixel (1.6 original px) per semi-axis.
    assert fit.ellipse.semi_axes_px == pytest.approx(truth.semi_axes_px, abs=1.6)
    assert fit.contour_px[:, 0].min() > 40 and fit.contour_px[:, 0].max() < 740


def test_mask_rejections_name_the_reason():
    assert fit_ellipse_to_mask(np.zeros((50, 50))).reason.startswith("the segmentation is empty")
    cut = _raster_ellipse((200, 200), (30.0, 100.0), (60.0, 40.0), 0)
    assert "border" in fit_ellipse_to_mask(cut).reason
    # Inside the frame but running into the zero padding of the model input.
    mapping = InputMapping.square_pad(224, 112, 224)  # content rows 56..168
    padded = _raster_ellipse((224, 224), (112.0, 80.0), (60.0, 30.0), 0)
    assert "border" in fit_ellipse_to_mask(padded, mapping).reason
    # A full-frame mask whose blob runs into the edge of the ultrasound region (x 100..400).
    inner = _raster_ellipse((300, 500), (160.0, 150.0), (70.0, 50.0), 0)
    assert fit_ellipse_to_mask(inner).ok
    assert "border" in fit_ellipse_to_mask(inner, content_box_px=(100, 0, 400, 300)).reason
    tiny = _raster_ellipse((50, 50), (25.0, 25.0), (2.0, 2.0), 0)
    assert "points" in fit_ellipse_to_mask(tiny).reason
    cross = np.zeros((200, 200), np.uint8)
    cross[90:110, 30:170] = 1
    cross[30:170, 90:110] = 1
    assert "not ellipse-like" in fit_ellipse_to_mask(cross).reason
    with pytest.raises(ValueError, match="2-D"):
        fit_ellipse_to_mask(np.zeros((4, 4, 3)))


def test_point_fit_refuses_open_arcs_and_noise():
    e = Ellipse((100.0, 100.0), (60.0, 40.0), 0)
    pts = e.sample(400)
    assert fit_ellipse_to_points(pts).ok
    arc = pts[:150]  # a third of the curve
    assert "closed curve" in fit_ellipse_to_points(arc).reason
    rng = np.random.default_rng(1)
    noisy = pts + rng.normal(0, 8, pts.shape)
    assert "not ellipse-like" in fit_ellipse_to_points(noisy).reason
    assert "points" in fit_ellipse_to_points(pts[:5]).reason
    assert len(outer_contour(np.zeros((8, 8)))) == 0
