"""The AI review workspace in the real window with the real engine (tiny random-weight FetalCLIP-family model).

Drives the window offscreen: open a study, analyse it, wait for the signal, then check the badge, the
timeline's data, a jump from the findings panel, a text search and the cache hit on reopening (the model is
not even loaded the second time), the no-weights notice, label corrections and the heat map.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.data import get_testdata_file
from PySide6.QtCore import QPointF, Qt

from fetalviewer.settings import update_settings
from fetalviewer.ui.app import ensure_application
from tests.model_fixtures import TINY_CONFIG, save_official, tiny_state_dict

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

CINE = "color3d_jpeg_baseline.dcm"  # 120 frames, one 2D region in cm
STILL = "OBXXXX1A.dcm"  # one frame, calibrated 2D region


def data_file(name: str) -> str:
    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"pydicom-data file {name} is not installed")
    return path


@pytest.fixture(scope="module")
def tiny_weights_file(tmp_path_factory):
    return save_official(tiny_state_dict(seed=3), tmp_path_factory.mktemp("ws-weights") / "tiny.pt")


@pytest.fixture
def installed_weights(tiny_weights_file):
    """As after 'fetalviewer weights install tiny.pt --config tiny.json' (settings in this test's home)."""
    update_settings(weights_path=str(tiny_weights_file), weights_config_path=str(TINY_CONFIG))
    return tiny_weights_file


def make_window(qtbot):
    ensure_application()
    from fetalviewer.ui.main_window import MainWindow

    win = MainWindow()
    ws = win.workspace
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win, ws


def open_and_wait(qtbot, win, paths):
    with qtbot.waitSignal(win.study_loaded, timeout=30000):
        win.open_paths(paths)


def close_window(win, ws):
    win.player.pause()
    win.close()
    ws.shutdown()


def test_analyse_badge_timeline_findings_search_and_cache_on_reopen(qtbot, installed_weights):
    win, ws = make_window(qtbot)
    open_and_wait(qtbot, win, [data_file(CINE), data_file(STILL)])
    cine_uid = next(loop.sop_instance_uid for loop in win.instances if loop.n_frames == 120)
    assert ws.model_state == "unloaded" and not ws.results  # nothing cached yet, nothing loaded

    updates = []
    ws.worker.analysis_update.connect(lambda u: updates.append((u.sop_instance_uid, u.analysis.n_done)))
    with qtbot.waitSignal(ws.analysis_finished, timeout=300000):
        ws.analyse()
    assert ws.model_state == "ready"
    assert {uid: a.n_done for uid, a in ws.results.items()} == {
        loop.sop_instance_uid: loop.n_frames for loop in win.instances
    }
    # progressive: the still is analysed during the first pass, before the cine's frames are filled in
    still_at = next(k for k, (uid, _n) in enumerate(updates) if uid != cine_uid)
    cine_before = [n for uid, n in updates[:still_at] if uid == cine_uid]
    assert cine_before and max(cine_before) <= 7  # first pass: every 20th frame and the last

    # the badge on the frame on screen: the model's top plane with its probability, marked as model output
    win.select_instance(next(i for i, loop in enumerate(win.instances) if loop.sop_instance_uid == cine_uid))
    win.player.seek(37)
    analysis = ws.results[cine_uid]
    from fetalviewer.model.planes import PLANE_DISPLAY_NAMES

    top = int(np.argmax(analysis.plane_probs[37]))
    badge = ws.view.badge.plain_text()
    assert (
        f"{PLANE_DISPLAY_NAMES[analysis.plane_keys[top]]} {analysis.plane_probs[37, top] * 100:.0f}%" in badge
    )
    assert "AI · FetalCLIP" in badge and ws.view.badge.isVisible()

    # the timeline shows exactly the analysed probabilities of the current instance, every frame
    for k, key in enumerate(analysis.plane_keys):
        frames, probs = ws.view.timeline.bar_heights(key)
        assert frames.tolist() == list(range(120))
        np.testing.assert_allclose(probs, analysis.plane_probs[:, k], atol=1e-6)

    # a click on the timeline jumps to that frame
    vb = ws.view.timeline.plot_item.vb
    scene_pt = vb.mapViewToScene(QPointF(90, 4.5))
    view_pt = ws.view.timeline.mapFromScene(scene_pt)
    qtbot.mouseClick(ws.view.timeline.viewport(), Qt.LeftButton, pos=view_pt)
    assert win.player.index == 90

    # findings: a jump from the panel to the best frame of a plane
    best, checklist = ws.findings()
    item = next(
        c
        for c in checklist
        if c.best is not None and c.best.sop_instance_uid == cine_uid and c.best.frame_index not in (90,)
    )
    tree_item = ws.view.findings.item_for(item.plane_key)
    ws.view.findings.tree.itemClicked.emit(tree_item, 0)
    assert win.current_loop.sop_instance_uid == cine_uid and win.player.index == item.best.frame_index
    assert best[item.plane_key].prob_0_1 == pytest.approx(
        float(analysis.plane_probs[:, analysis.plane_keys.index(item.plane_key)].max()), abs=1e-6
    )

    # text search: ranked by cosine with the text embedding, best first; clicking a hit jumps
    with qtbot.waitSignal(ws.search_finished, timeout=60000):
        ws.view.search.edit.setText("four chamber view")
        ws.view.search.button.click()
    hits = ws.last_search
    query = ws.worker.backend.embed_text("four chamber view")
    query = query / np.linalg.norm(query)
    expected = max(float((a.embeddings[a.done] @ query).max()) for a in ws.results.values())
    assert hits[0].score_cos == pytest.approx(expected, abs=1e-5)
    assert [h.score_cos for h in hits] == sorted((h.score_cos for h in hits), reverse=True)
    assert ws.view.search.hits.count() == len(hits)
    ws.view.search.hits.itemClicked.emit(ws.view.search.hits.item(0))
    assert win.player.index == hits[0].frame_index
    close_window(win, ws)

    # reopening: everything from the cache at once; the model is not even loaded
    win2, ws2 = make_window(qtbot)
    with qtbot.waitSignal(ws2.cache_checked, timeout=60000) as blocker:
        win2.open_paths([data_file(CINE), data_file(STILL)])
    assert blocker.args == [2]
    assert ws2.model_state == "unloaded" and ws2.worker.service.engine is None
    np.testing.assert_array_equal(ws2.results[cine_uid].plane_probs, analysis.plane_probs)
    assert all(a.is_complete for a in ws2.results.values())
    win2.player.seek(37)
    assert ws2.view.badge.plain_text() == badge
    # analysing again reads the cache: zero forward passes of the vision tower
    with qtbot.waitSignal(ws2.analysis_finished, timeout=120000):
        ws2.analyse()
    assert ws2.worker.backend.forward_calls == 0
    close_window(win2, ws2)


def test_without_weights_one_notice_with_the_fix_and_viewing_works(qtbot):
    win, ws = make_window(qtbot)
    open_and_wait(qtbot, win, [data_file(STILL)])
    ws.view.flush()  # the panel's state is redrawn on a coalescing timer
    controls = ws.view.controls
    assert controls.notice.isVisible()
    assert "no FetalCLIP weights" in controls.notice_label.text()
    assert controls.install_button.isVisible() and controls.install_button.isEnabled()
    assert not controls.analyse_button.isEnabled()
    assert not ws.view.search.edit.isEnabled()
    assert not ws.view.badge.isVisible()
    # the image is shown as usual
    assert win.canvas.image_item.image is not None and win.canvas.image_item.image.shape[:2] == (600, 800)
    close_window(win, ws)


def test_install_from_the_notice_then_labels_and_heat_map(qtbot, tiny_weights_file):
    win, ws = make_window(qtbot)
    open_and_wait(qtbot, win, [data_file(STILL)])
    ws.view.flush()
    assert ws.view.controls.notice.isVisible()
    ws._config_path = str(
        TINY_CONFIG
    )  # the dialog's install uses the default config; the tiny test needs its own
    with qtbot.waitSignal(ws.model_state_changed, timeout=60000, check_params_cb=lambda s: s == "unloaded"):
        ws.install_weights(str(tiny_weights_file))
    from fetalviewer.settings import load_settings

    assert load_settings()["weights_path"] == str(tiny_weights_file.resolve())
    ws.view.flush()
    assert not ws.view.controls.notice.isVisible()
    with qtbot.waitSignal(ws.analysis_finished, timeout=120000):
        ws.analyse()
    loop = win.current_loop
    reading = ws.current_reading()
    assert reading is not None and reading.frame_index == 0

    # the user's label is stored in the exam record beside the model's
    ws.view.controls.label_combo.setCurrentIndex(ws.view.controls.label_combo.findData("heart"))
    ws.view.controls.correct_button.click()
    from fetalviewer.exam.record import load_exam_record

    record = load_exam_record(loop.study_instance_uid)
    (correction,) = record.plane_corrections
    assert (correction.user_label, correction.model_label) == ("heart", reading.plane_key)
    # ... in the window's live record, the one the calipers write to (public look-up, no private state)
    live = win.measurements.record_for_study(loop.study_instance_uid)
    assert live is win.measurements.record_for_instance(loop.sop_instance_uid) is ws._exam_record()[0]
    assert [(c.user_label, c.model_label) for c in live.plane_corrections] == [("heart", reading.plane_key)]
    assert win.measurements.record_for_study("9.9.9") is None and win.measurements.record_for_instance("9.9") is None
    assert "User label: Thorax / heart" in ws.view.badge.plain_text()

    # heat map: an overlay over the whole frame, zero outside the tissue region the model saw
    # computed off the GUI thread (hidden until it is ready), then kept per frame
    with qtbot.waitSignal(ws.view.heatmap_shown, timeout=30000):
        ws.view.controls.heatmap_check.setChecked(True)
        assert not ws.view.heat_item.isVisible()
    heat = ws.view.heat_item.image
    assert ws.view.heat_item.isVisible() and heat.shape == (loop.rows, loop.columns, 4)
    region = next(r for r in loop.regions if r.is_2d_tissue)
    assert (
        heat[: region.y0, :, 3].max() == 0
        and heat[region.y0 : region.y1 + 1, region.x0 : region.x1 + 1, 3].max() > 0
    )
    from fetalviewer.workspace.heatmap import heatmap_rgba

    analysis = ws.results[loop.sop_instance_uid]
    expected = heatmap_rgba(analysis.class_maps[0], int(np.argmax(analysis.plane_probs[0])), loop.rows,
                            loop.columns, ws.targets[0].crop_box_px, ws.view._lut, 150)
    np.testing.assert_array_equal(heat, expected)
    # switched off and on again: drawn at once from the per-frame cache, no background job
    ws.view.controls.heatmap_check.setChecked(False)
    assert not ws.view.heat_item.isVisible()
    ws.view.controls.heatmap_check.setChecked(True)
    assert ws.view.heat_item.isVisible() and ws.view._heat_running is None
    close_window(win, ws)


def test_auto_analyse_drops_stale_results_and_skips_the_model_when_cached(qtbot, installed_weights):
    update_settings(auto_analyze=True)
    win, ws = make_window(qtbot)
    # opening the cine starts the analysis by itself; opening another study at once makes its results stale
    with qtbot.waitSignal(ws.worker.analysis_update, timeout=120000):
        win.open_paths([data_file(CINE)])
    cine_uid = win.instances[0].sop_instance_uid
    with qtbot.waitSignal(ws.analysis_finished, timeout=120000):
        win.open_paths([data_file(STILL)])
    still_uid = win.instances[0].sop_instance_uid
    assert set(ws.results) == {still_uid} and cine_uid not in ws.results
    assert ws.results[still_uid].is_complete and not ws.running
    close_window(win, ws)

    # reopening the analysed still: shown from the cache, the model is not loaded, nothing runs
    win2, ws2 = make_window(qtbot)
    with qtbot.waitSignal(ws2.cache_checked, timeout=60000):
        win2.open_paths([data_file(STILL)])
    qtbot.wait(200)
    assert ws2.results[still_uid].is_complete
    assert ws2.model_state == "unloaded" and not ws2.running
    close_window(win2, ws2)


def test_plane_label_list_starts_empty_and_refuses_setting_nothing(qtbot):
    from fetalviewer.model.planes import PLANE_CLASSES
    from fetalviewer.ui.app import ensure_application
    from fetalviewer.ui.workspace.control_panel import WorkspaceControls

    ensure_application()
    panel = WorkspaceControls(PLANE_CLASSES)
    qtbot.addWidget(panel)
    emitted = []
    panel.correct_clicked.connect(emitted.append)
    assert panel.label_combo.currentIndex() == -1  # no plane preselected
    panel.correct_button.click()
    assert emitted == [] and "Choose the plane" in panel.label_status.text()
    panel.label_combo.setCurrentIndex(panel.label_combo.findData("heart"))
    panel.correct_button.click()
    assert emitted == ["heart"]
