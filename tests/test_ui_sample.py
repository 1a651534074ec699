"""The bundled sample study in the real window: HC by clicking an ellipse, a distance in mm, aspect."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt

from fetalviewer.paths import sample_study_dir
from tests.test_ui_window import click_image, open_and_wait, tissue_region, window  # noqa: F401 (fixture)

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def sample_truth() -> dict:
    path = sample_study_dir() / "sample_truth.json"
    if not path.exists():
        pytest.skip("the bundled sample study is not built")
    return json.loads(path.read_text())


def show_instance(win, sop_uid: str) -> None:
    index = next(i for i, loop in enumerate(win.instances) if loop.sop_instance_uid == sop_uid)
    win.select_instance(index)
    assert win.current_loop.sop_instance_uid == sop_uid


def test_hc_ellipse_on_the_sample_matches_the_published_hc(qtbot, window):  # noqa: F811
    truth = sample_truth()
    still = next(i for i in truth["instances"] if i["file"].startswith("US_still"))
    open_and_wait(qtbot, window, [sample_study_dir()])
    assert window.browser.count == len(truth["instances"])
    show_instance(window, still["sop_instance_uid"])
    e = still["annotation_ellipse"]
    (cx, cy), (a, b), ang = e["center_px"], e["semi_axes_px"], math.radians(e["angle_deg"])
    ux, uy = math.cos(ang), math.sin(ang)
    qtbot.keyClick(window, Qt.Key_E)
    click_image(qtbot, window, cx - a * ux, cy - a * uy)
    click_image(qtbot, window, cx + a * ux, cy + a * uy)
    click_image(qtbot, window, cx - b * uy, cy + b * ux)
    row = window.measurement_panel.row_values(0)
    assert row["Unit"] == "mm"
    # HC18's published head circumference of this image, within 1 % (clicks land on screen pixels).
    assert float(row["Value"]) == pytest.approx(still["hc_mm"], rel=0.01)
    window.measurement_panel.label_combo(0).setCurrentText("HC")
    assert window.layer.label_of(window.measurements.measurements()[0].measurement_id).startswith("HC ")


def test_distance_on_the_sample_cine_in_mm(qtbot, window):  # noqa: F811
    truth = sample_truth()
    cine = next(i for i in truth["instances"] if "cine" in i["file"])
    open_and_wait(qtbot, window, [sample_study_dir()])
    show_instance(window, cine["sop_instance_uid"])
    assert window.current_loop.n_frames > 1
    window.player.seek(10)
    region = tissue_region(window.current_loop)
    p1, p2 = (region.x0 + 100.0, region.y0 + 100.0), (region.x0 + 250.0, region.y0 + 180.0)
    qtbot.keyClick(window, Qt.Key_D)
    click_image(qtbot, window, *p1)
    click_image(qtbot, window, *p2)
    m = window.measurements.measurements()[0]
    assert m.frame_index == 10
    (a1, b1), (a2, b2) = m.points_px
    expected = math.hypot(a2 - a1, b2 - b1) * cine["pixel_size_mm"]
    row = window.measurement_panel.row_values(0)
    assert row["Unit"] == "mm"
    assert float(row["Value"]) == pytest.approx(expected, abs=0.051)
    assert row["Frame"].startswith("11 ")


def test_aspect_ratio_follows_anisotropic_pixels(qtbot, window):  # noqa: F811
    from fetalviewer.dicom.regions import UltrasoundRegion

    region = UltrasoundRegion(index=0, x0=0, y0=0, x1=199, y1=99, spatial_format=1, data_type=1,
                              units_x=3, units_y=3, physical_delta_x=0.01, physical_delta_y=0.02)
    loop = SimpleNamespace(is_color=False, rows=100, columns=200, regions=(region,))
    window.stack.setCurrentIndex(1)
    window.canvas.set_instance(loop)
    qtbot.wait(1)  # let the view apply its range
    px_x, px_y = window.canvas.view.viewPixelSize()  # image pixels per screen pixel
    # A pixel twice as tall as wide (0.2 mm vs 0.1 mm) takes twice the screen height.
    assert px_x / px_y == pytest.approx(2.0, rel=0.02)
