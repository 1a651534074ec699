"""The real review window, offscreen: open, play, step, calipers through mouse clicks, problems."""

from __future__ import annotations

import math
import shutil

import pytest
from pydicom.data import get_testdata_file
from PySide6.QtCore import Qt

from fetalviewer.paths import sample_study_dir
from fetalviewer.ui.app import ensure_application

# The offscreen platform plugin warns that it cannot resize native windows; harmless here.
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

CINE = "color3d_jpeg_baseline.dcm"  # 120 frames, FrameTime 33.33 ms, one 2D region
CALIBRATED = "OBXXXX1A.dcm"  # 2D tissue region calibrated in cm, plus a second (time) region


def data_file(name: str) -> str:
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"pydicom-data file {name} is not installed")
    return path


@pytest.fixture
def window(qtbot):
    ensure_application()
    from fetalviewer.ui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.player.pause()


def open_and_wait(qtbot, win, paths):
    with qtbot.waitSignal(win.study_loaded, timeout=30000):
        win.open_paths(paths)
    return win


def click_image(qtbot, win, x, y):
    """A left click on the canvas at image point (x, y): the same path as the user's mouse."""
    pos = win.canvas.map_image_to_widget(x, y).toPoint()
    qtbot.mouseClick(win.canvas.graphics.viewport(), Qt.LeftButton, pos=pos)


def tissue_region(loop):
    return next(r for r in loop.regions if r.is_2d_tissue and r.mm_per_px_x)


def test_welcome_panel_offers_the_sample(window):
    # the start page: the welcome actions beside the study list
    assert window.stack.currentWidget() is window.network.start_page
    assert window.welcome.parent() is window.network.start_page
    has_sample = sample_study_dir().is_dir() and any(sample_study_dir().rglob("*.dcm"))
    assert window.welcome.sample_button.isEnabled() == has_sample


def test_open_play_step_and_speed(qtbot, window):
    open_and_wait(qtbot, window, [data_file(CINE)])
    assert window.browser.count == 1
    loop = window.current_loop
    assert loop.n_frames == 120
    assert window.player.index == 0
    assert window.canvas.image_item.image.shape == (480, 640, 3)
    assert "FrameTime" in window.controls.mode_label.text()

    with qtbot.waitSignal(window.frame_displayed, timeout=5000, check_params_cb=lambda i: i >= 3):
        qtbot.keyClick(window, Qt.Key_Space)
    assert window.player.is_playing
    qtbot.keyClick(window, Qt.Key_Space)
    assert not window.player.is_playing

    window.player.seek(0)
    qtbot.keyClick(window, Qt.Key_Right)
    assert window.player.index == 1
    qtbot.keyClick(window, Qt.Key_Up)
    assert window.player.index == 11
    qtbot.keyClick(window, Qt.Key_Left, Qt.ShiftModifier)
    assert window.player.index == 1
    qtbot.keyClick(window, Qt.Key_End)
    assert window.player.index == 119
    assert "Frame 120 of 120" in window.controls.position_label.text()  # 1-based, as people count
    assert window.canvas.overlay_top_right.text().startswith("Frame 120 of 120")
    expected_ms = loop.timing.timestamps_ms[119]
    assert f"{expected_ms:.1f} ms" in window.controls.position_label.text()
    qtbot.keyClick(window, Qt.Key_Home)
    assert window.player.index == 0

    qtbot.keyClick(window, Qt.Key_Plus)
    assert window.player.speed == 2.0
    for _ in range(5):
        qtbot.keyClick(window, Qt.Key_Minus)
    assert window.player.speed == 0.25
    assert window.controls.speed_combo.currentText() == "0.25×"

    window.controls.slider.setValue(42)
    assert window.player.index == 42
    assert window.metadata.value_of("Frame timing", "Source") == "FrameTime"


def test_distance_in_mm_through_mouse_clicks(qtbot, window):
    open_and_wait(qtbot, window, [data_file(CALIBRATED)])
    loop = window.current_loop
    region = tissue_region(loop)
    x1, y1 = region.x0 + 60.0, region.y0 + 50.0
    x2, y2 = region.x0 + 160.0, region.y0 + 120.0
    qtbot.keyClick(window, Qt.Key_D)
    assert window.layer.tool == "distance"
    click_image(qtbot, window, x1, y1)
    click_image(qtbot, window, x2, y2)
    assert window.layer.tool == ""

    panel = window.measurement_panel
    assert panel.row_count() == 1
    row = panel.row_values(0)
    assert row["Unit"] == "mm"
    m = window.measurements.measurements()[0]
    (px1, py1), (px2, py2) = m.points_px
    # Clicks land within a screen pixel of the intended image points.
    tol = 1.5 / window.canvas.zoom_factor() + 0.5
    assert abs(px1 - x1) < tol and abs(py2 - y2) < tol
    expected_mm = math.hypot((px2 - px1) * region.mm_per_px_x, (py2 - py1) * region.mm_per_px_y)
    assert float(row["Value"]) == pytest.approx(expected_mm, abs=0.051)
    assert float(row["Value"]) == pytest.approx(math.hypot(100, 70) * region.mm_per_px_x, rel=0.03)
    assert "mm" in window.layer.label_of(m.measurement_id)
    assert row["Frame"].startswith("1 ")


def test_ellipse_perimeter_and_area(qtbot, window):
    open_and_wait(qtbot, window, [data_file(CALIBRATED)])
    region = tissue_region(window.current_loop)
    cx, cy = region.x0 + 200.0, region.y0 + 150.0
    qtbot.keyClick(window, Qt.Key_E)
    click_image(qtbot, window, cx - 80, cy)
    click_image(qtbot, window, cx + 80, cy)
    click_image(qtbot, window, cx, cy + 50)
    m = window.measurements.measurements()[0]
    assert m.kind == "ellipse"
    a, b = m.semi_axes_px
    assert a == pytest.approx(80, abs=1.5) and b == pytest.approx(50, abs=1.5)
    row = window.measurement_panel.row_values(0)
    assert row["Unit"] == "mm"
    s = region.mm_per_px_x
    h = ((a - b) / (a + b)) ** 2
    perimeter_mm = math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h))) * s
    assert float(row["Value"]) == pytest.approx(perimeter_mm, abs=0.051)
    assert row["Area"] == f"{math.pi * a * b * s * region.mm_per_px_y / 100:.2f} cm²"
    # Dragging the ellipse (ROI moved programmatically, then the finish signal) re-measures it.
    roi = window.layer.roi_of(m.measurement_id)
    roi.setSize((2 * a * 1.1, 2 * b), finish=True)
    edited = window.measurements.measurement(m.measurement_id)
    assert edited.semi_axes_px[0] == pytest.approx(a * 1.1, rel=1e-6)
    assert float(window.measurement_panel.row_values(0)["Value"]) > float(row["Value"])


def test_uncalibrated_distance_shows_px_with_reason(qtbot, window):
    open_and_wait(qtbot, window, [data_file(CALIBRATED)])
    loop = window.current_loop
    region = tissue_region(loop)
    # From inside the tissue region to outside every region: no single calibration applies.
    inside = (region.x0 + 20.0, region.y0 + 20.0)
    outside = (loop.columns - 3.0, loop.rows - 3.0)
    assert not any(r.contains(*outside) for r in loop.regions if r.is_2d_tissue)
    qtbot.keyClick(window, Qt.Key_D)
    click_image(qtbot, window, *inside)
    click_image(qtbot, window, *outside)
    row = window.measurement_panel.row_values(0)
    assert row["Unit"] == "px (uncalibrated)"
    m = window.measurements.measurements()[0]
    assert m.calibration is None and m.uncalibrated_reason
    assert float(row["Value"]) == pytest.approx(m.length_px, abs=0.051)
    assert "uncalibrated" in window.layer.label_of(m.measurement_id)
    assert m.uncalibrated_reason in window.measurement_panel.table.item(0, 1).toolTip()


def test_label_delete_persistence_and_frame_scoping(qtbot, window):
    cine = data_file(CINE)
    open_and_wait(qtbot, window, [cine])
    loop = window.current_loop
    window.player.seek(5)
    m = window.measurements.add(loop, 5, "distance", {"points_px": ((300.0, 200.0), (400.0, 260.0))})
    assert window.layer.caliper_ids() == [m.measurement_id]
    window.player.seek(6)
    assert window.layer.caliper_ids() == []  # shown only on its own frame
    # Selecting the row jumps back to the frame.
    window.measurement_panel.table.clearSelection()
    window.measurement_panel.table.selectRow(0)
    assert window.player.index == 5
    assert window.layer.caliper_ids() == [m.measurement_id]
    window.measurement_panel.label_combo(0).setCurrentText("FL")
    assert window.measurements.measurement(m.measurement_id).label == "FL"
    assert window.layer.label_of(m.measurement_id).startswith("FL ")

    # Reopening the study restores the measurement from the exam record.
    open_and_wait(qtbot, window, [cine])
    assert window.measurement_panel.row_count() == 1
    assert window.measurement_panel.row_values(0)["Label"] == "FL"

    window.measurement_panel.table.selectRow(0)
    qtbot.keyClick(window, Qt.Key_Delete)
    assert window.measurement_panel.row_count() == 0
    open_and_wait(qtbot, window, [cine])
    assert window.measurement_panel.row_count() == 0


def test_bad_files_listed_while_the_rest_opens(qtbot, window, tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copy(data_file(CALIBRATED), folder / "good.dcm")
    (folder / "readme.txt").write_text("met in the folder walk: skipped, not a problem")
    (tmp_path / "notes.dcm").write_text("this is not DICOM")
    raw = (folder / "good.dcm").read_bytes()
    (folder / "truncated.dcm").write_bytes(raw[: len(raw) // 3])
    # A non-DICOM file named explicitly is a problem; met in a folder walk it is only skipped.
    open_and_wait(qtbot, window, [folder, tmp_path / "notes.dcm"])
    assert window.browser.count == 1
    assert window.current_loop is not None
    messages = " ".join(window.problems.messages())
    assert "notes.dcm" in messages and "truncated.dcm" in messages
    assert "readme.txt" not in messages
    assert window.problems_dock.isVisible()


def test_corrupt_frame_shows_message_and_playback_continues(qtbot, window, tmp_path):
    import pydicom
    from pydicom.encaps import encapsulate, generate_frames

    ds = pydicom.dcmread(data_file(CINE))
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    frames[5] = frames[5][:40] + b"\xff\xd9"
    ds.PixelData = encapsulate(frames)
    path = tmp_path / "corrupt_frame.dcm"
    ds.save_as(path)
    open_and_wait(qtbot, window, [path])
    window.player.seek(5)
    assert window.canvas.message_label.isVisibleTo(window.canvas)
    assert "Frame 6" in window.canvas.message_label.text()
    assert any("corrupt_frame.dcm" in t or "frame 6" in t for t in window.problems.messages())
    with qtbot.waitSignal(window.frame_displayed, timeout=5000, check_params_cb=lambda i: i >= 8):
        window.player.play()
    assert not window.canvas.message_label.isVisibleTo(window.canvas)


def test_instances_pages_regions_and_help(qtbot, window):
    # The first frame shows as soon as the headers are read; thumbnails follow from a worker.
    with qtbot.waitSignals([window.study_loaded, window.loader.thumbnails_done], timeout=30000):
        window.open_paths([data_file(CINE), data_file(CALIBRATED)])
    assert window.browser.count == 2
    assert window.browser.has_thumbnail(0) and window.browser.has_thumbnail(1)
    first = window.current_loop
    qtbot.keyClick(window, Qt.Key_PageDown)
    assert window.current_loop is not first
    assert window.current_loop.n_frames == 1
    assert not window.controls.slider.isEnabled()  # a still
    calibrated = [i for i in window.canvas.region_items if i.pen().style() == Qt.SolidLine]
    assert len(calibrated) == 1
    qtbot.keyClick(window, Qt.Key_G)
    assert not any(i.isVisible() for i in window.canvas.region_items)
    qtbot.keyClick(window, Qt.Key_PageUp)
    assert window.current_loop is first
    qtbot.keyClick(window, Qt.Key_F1)
    texts = [window._help_dialog.table.item(r, 1).text() for r in range(window._help_dialog.table.rowCount())]
    assert any("Distance" in t for t in texts) and any("Play" in t for t in texts)
    window._help_dialog.close()


def test_window_level_drag_changes_grayscale_levels(qtbot, window):
    path = get_testdata_file("JPGLosslessP14SV1_1s_1f_8b.dcm")
    if path is None:
        pytest.skip("pydicom-data file missing")
    open_and_wait(qtbot, window, [path])
    assert not window.canvas.is_color
    window.canvas.set_window_level(100.0, 80.0)
    assert tuple(window.canvas.image_item.levels) == (60.0, 140.0)
    assert "W 80" in window.canvas.overlay_bottom_left.text()
    # A right-button drag: right widens the window, down lowers the level.
    window.canvas.view.sigWindowLevelDrag.emit(20.0, 10.0, False)
    assert window.canvas.window_level == (90.0, 100.0)
    qtbot.keyClick(window, Qt.Key_R)
    assert window.canvas.window_level == (127.5, 255.0)


def test_screenshot_option_writes_png_and_logs_without_identifiers(tmp_path):
    from argparse import Namespace

    from fetalviewer.paths import user_dirs
    from fetalviewer.ui.app import run_app

    out = tmp_path / "shot.png"
    has_sample = sample_study_dir().is_dir() and any(sample_study_dir().rglob("*.dcm"))
    args = Namespace(paths=[] if has_sample else [data_file(CINE)], sample=has_sample, weights=None,
                     screenshot=str(out))
    assert run_app(args) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    log_text = (user_dirs().log_dir / "fetalviewer.log").read_text()
    assert "opened" in log_text
    if has_sample:
        for identifier in ("FVTEST^ALBA", "FVT-0001"):
            assert identifier not in log_text


def test_drop_recent_fit_and_zoom(qtbot, window):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(data_file(CALIBRATED))])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(window.study_loaded, timeout=30000):
        window.dropEvent(event)
    assert window.current_loop is not None
    assert window.recent_menu.actions()[0].text() == data_file(CALIBRATED)
    window.canvas.fit()
    (x0, x1), (y0, y1) = window.canvas.view.viewRange()
    assert x0 <= 0 and x1 >= window.current_loop.columns - 1
    width_before = x1 - x0
    qtbot.keyClick(window, Qt.Key_Equal, Qt.ControlModifier)
    (x0, x1), _ = window.canvas.view.viewRange()
    assert x1 - x0 < width_before * 0.9
    qtbot.keyClick(window, Qt.Key_F)
    (x0, x1), _ = window.canvas.view.viewRange()
    assert x1 - x0 == pytest.approx(width_before, rel=0.02)


def test_window_appears_before_torch_is_imported(tmp_path):
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from fetalviewer.ui.app import ensure_application\n"
        "app = ensure_application()\n"
        "from fetalviewer.ui.main_window import MainWindow\n"
        "w = MainWindow(); w.show(); app.processEvents()\n"
        "print(sorted(m for m in ('torch', 'open_clip', 'torchvision') if m in sys.modules))\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", FETALVIEWER_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_dicomdir_opens_through_the_window(qtbot, window, tmp_path, monkeypatch):
    import pydicom
    from pydicom.fileset import FileSet
    from PySide6.QtWidgets import QFileDialog

    fs = FileSet()
    for name in (CALIBRATED, "examples_ybr_color.dcm"):
        fs.add(pydicom.dcmread(data_file(name)))
    fs.write(tmp_path / "media")
    dicomdir = str(tmp_path / "media" / "DICOMDIR")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (dicomdir, "DICOMDIR"))
    with qtbot.waitSignal(window.study_loaded, timeout=30000):
        qtbot.keyClick(window, Qt.Key_D, Qt.ControlModifier | Qt.ShiftModifier)
    assert window.browser.count == 2
    assert sorted(loop.n_frames for loop in window.instances) == [1, 30]
    assert window.problems.count() == 0


def test_caliper_preview_while_dragging_commit_when_finished(qtbot, window):
    open_and_wait(qtbot, window, [data_file(CALIBRATED)])
    loop = window.current_loop
    region = tissue_region(loop)
    p1, p2 = (region.x0 + 50.0, region.y0 + 50.0), (region.x0 + 150.0, region.y0 + 50.0)
    m = window.measurements.add(loop, 0, "distance", {"points_px": (p1, p2)})
    roi = window.layer.roi_of(m.measurement_id)
    handle = roi.endpoints[1]
    # Dragging (not finished): the label previews the new length, the record keeps the old one.
    roi.movePoint(handle, roi.mapToParent(handle.pos()) + pg_point(100.0, 0.0), finish=False)
    preview = window.layer.label_of(m.measurement_id)
    assert f"{200 * region.mm_per_px_x:.1f} mm" in preview
    assert window.measurements.measurement(m.measurement_id).length_px == pytest.approx(100.0)
    roi.sigRegionChangeFinished.emit(roi)
    assert window.measurements.measurement(m.measurement_id).length_px == pytest.approx(200.0)
    assert float(window.measurement_panel.row_values(0)["Value"]) == pytest.approx(
        200 * region.mm_per_px_x, abs=0.051)
    # Escape abandons a caliper being drawn.
    qtbot.keyClick(window, Qt.Key_D)
    click_image(qtbot, window, *p1)
    qtbot.keyClick(window, Qt.Key_Escape)
    assert window.layer.tool == ""
    click_image(qtbot, window, *p2)
    assert window.measurement_panel.row_count() == 1


def pg_point(x, y):
    from PySide6.QtCore import QPointF

    return QPointF(x, y)


def test_put_many_stores_and_removes_in_one_step(qtbot, window):
    open_and_wait(qtbot, window, [data_file(CALIBRATED)])
    loop = window.current_loop
    mc = window.measurements
    old = mc.add(loop, 0, "distance", {"points_px": ((300.0, 200.0), (350.0, 200.0))})
    from fetalviewer.ui import measure_adapter as ma

    new = [ma.new_distance(loop, 0, (300.0, 250.0), (400.0, 250.0), label="BPD", source="automatic"),
           ma.new_ellipse(loop, 0, {"center_px": (350.0, 300.0), "semi_axes_px": (60.0, 40.0), "angle_deg": 0.0},
                          label="HC", source="automatic")]
    with qtbot.waitSignal(mc.changed, timeout=1000):
        mc.put_many(new, remove_ids=[old.measurement_id])
    assert sorted(m.label for m in mc.measurements()) == ["BPD", "HC"]
    assert [r["Source"] for r in map(window.measurement_panel.row_values, range(2))] == ["automatic"] * 2
    assert sorted(window.layer.caliper_ids()) == sorted(m.measurement_id for m in new)
    stored = ma.load_exam_record(loop.study_instance_uid)
    assert sorted(m.label for m in stored.measurements) == ["BPD", "HC"]


def test_playback_honours_trim_and_sweep_in_the_window(qtbot, window, tmp_path):
    from tests.dicom_reference import synthetic_cine, write_dataset

    ds, _ = synthetic_cine(n_frames=10, rows=16, columns=16)
    ds.FrameTime = "20"
    ds.FrameIncrementPointer = 0x00181063
    ds.StartTrim = 3  # 1-based frame numbers in DICOM: frames 3..6 play (0-based 2..5)
    ds.StopTrim = 6
    ds.PreferredPlaybackSequencing = 1  # sweep
    path = write_dataset(tmp_path / "trim_sweep.dcm", ds)
    open_and_wait(qtbot, window, [path])
    timing = window.current_loop.timing
    assert (timing.start_trim, timing.stop_trim, timing.sequencing) == (2, 5, "sweep")
    assert window.player.index == 2  # the first played frame is shown on opening
    shown = []

    def collect(i):
        shown.append(i)
        return len(shown) >= 14

    with qtbot.waitSignal(window.frame_displayed, timeout=10000, check_params_cb=collect):
        window.player.play()
    window.player.pause()
    assert set(shown) <= {2, 3, 4, 5}
    steps = [b - a for a, b in zip(shown, shown[1:], strict=False) if b != a]
    assert any(s > 0 for s in steps) and any(s < 0 for s in steps)  # forwards and backwards
    assert "sweep" in window.controls.mode_label.text()


def test_a_newer_open_wins_over_an_older_one(qtbot, window):
    window.open_paths([data_file(CINE)])
    with qtbot.waitSignal(window.study_loaded, timeout=30000):
        window.open_paths([data_file(CALIBRATED)])
    qtbot.waitUntil(lambda: not window.loader.busy, timeout=30000)  # the older load has finished too
    assert [loop.n_frames for loop in window.instances] == [1]
    assert window.browser.count == 1


def test_window_layout_is_kept_between_sessions(qtbot):
    ensure_application()
    from fetalviewer.ui.main_window import MainWindow

    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    qtbot.waitExposed(first)
    first.browser_dock.hide()
    first.save_layout()
    second = MainWindow()
    qtbot.addWidget(second)
    assert second.restore_layout()
    second.show()
    qtbot.waitExposed(second)
    assert not second.browser_dock.isVisible()
    assert second.info_dock.isVisible()


def test_numeric_window_level_from_the_w_shortcut(qtbot, window):
    open_and_wait(qtbot, window, [str(sample_study_dir() / "US_still_254_HC.dcm")])
    qtbot.waitUntil(lambda: window.canvas.image_item.image is not None, timeout=10000)
    assert not window.canvas.is_color
    window.actions["set_wl"].trigger()
    dialog = window.wl_dialog
    dialog.width_spin.setValue(100)
    dialog.level_spin.setValue(60)
    dialog.accept()
    assert window.canvas.window_level == (60.0, 100.0)
    assert tuple(window.canvas.image_item.levels) == (10.0, 110.0)
