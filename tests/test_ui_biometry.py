"""Automatic head biometry in the real window on the bundled sample: run, overlay, panel, edits."""

from __future__ import annotations

import json
import math

import pytest
from PySide6.QtCore import QPointF

from fetalviewer.paths import sample_study_dir
from tests.model_fixtures import tiny_config, tiny_loaded, tiny_state, tiny_weights  # noqa: F401 (fixtures)
from tests.test_ui_window import open_and_wait, window  # noqa: F401 (fixture)

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")
HC_TOLERANCE_REL = 0.06


def _truth_still(name: str = "US_still_254_HC.dcm") -> dict:
    path = sample_study_dir() / "sample_truth.json"
    if not path.exists():
        pytest.skip("the bundled sample study is not built")
    return next(i for i in json.loads(path.read_text())["instances"] if i["file"] == name)


def _measure_still(qtbot, win, still: dict):
    open_and_wait(qtbot, win, [sample_study_dir()])
    index = next(i for i, lp in enumerate(win.instances) if lp.sop_instance_uid == still["sop_instance_uid"])
    win.select_instance(index)
    bio = win.biometry
    statuses: list[str] = []
    bio.status.connect(statuses.append)
    with qtbot.waitSignal(bio.finished, timeout=120000) as blocker:
        win.actions["measure_head"].trigger()  # the menu / toolbar action
        assert bio.busy  # the model runs on a worker; the GUI thread is free meanwhile
    result = blocker.args[0]
    assert result.error is None and result.fit.ok, result
    # no FetalCLIP weights here: the status names the default head model, once it has run
    assert statuses[0] == f"Measuring the head on frame 1 of {win.current_loop.n_frames}…"
    assert statuses[-1].startswith("Automatic head biometry (default head model): "), statuses
    return bio, bio.head_measurements(still["sop_instance_uid"], 0)


def _number(text: str) -> float:
    return float(text.split()[0])


def test_automatic_head_biometry_draws_and_measures_the_sample_head(qtbot, window):  # noqa: F811
    still = _truth_still()
    bio, ms = _measure_still(qtbot, window, still)
    assert set(ms) == {"HC", "BPD", "OFD"} and all(m.source == "automatic" for m in ms.values())
    hc = ms["HC"]
    assert hc.perimeter_mm == pytest.approx(still["hc_mm"], rel=HC_TOLERANCE_REL)
    # the fitted ellipse is a caliper of the layer, the contour and values box are on the canvas
    assert hc.measurement_id in window.layer.caliper_ids()
    assert bio.overlay.contour_visible
    contour = bio.overlay.contour_points()
    truth_c = still["annotation_ellipse"]["center_px"]
    assert math.hypot(*(contour.mean(axis=0) - truth_c)) < 25  # original pixels, not model pixels
    text = bio.overlay.text
    assert "automatic" in text and f"HC {hc.perimeter_mm:.1f} mm" in text
    assert "GA Hadlock 1984 (HC): " in text and "GA INTERGROWTH-21st 2016 (HC): " in text
    # the panel: HC in mm near HC18's published value, GA per equation, model GA and CHD explained
    values = bio.panel.parameter_values()
    assert _number(values["HC"]["Value"]) == pytest.approx(still["hc_mm"], rel=HC_TOLERANCE_REL)
    assert values["HC"]["Source"] == "automatic"
    assert "Hadlock 1984 (HC)" in values["HC"]["GA (equation)"]
    assert values["BPD"]["Parameter"] == "BPD\nouter-outer"  # BPD from the outer outline
    summary = bio.panel.summary
    assert summary.combined_ga.startswith("Combined GA, Hadlock 1984")
    assert "needs AC and FL" in summary.efw[0]
    assert summary.model_ga.startswith("Model GA: unavailable")
    assert "not checked" in summary.discordance
    assert "No CHD head installed" in summary.chd and "train-head chd" in summary.chd
    assert any("Radiology 1984;152:497-501" in c for c in summary.citations)


def test_editing_the_ellipse_recomputes_everything_and_keeps_the_automatic_values(qtbot, window):  # noqa: F811
    from fetalviewer.exam.record import load_exam_record

    still = _truth_still()
    bio, ms = _measure_still(qtbot, window, still)
    hc0, bpd0, ofd0 = ms["HC"], ms["BPD"], ms["OFD"]
    roi = window.layer.roi_of(hc0.measurement_id)
    size = roi.size()
    # a drag in progress (the mouse path: sigRegionChanged) updates the values box at once
    roi.setSize(size * 1.05, center=(0.5, 0.5), finish=False)
    assert _hc_in_text(bio.overlay.text) == pytest.approx(hc0.perimeter_mm * 1.05, abs=0.1)
    assert "edited" in bio.overlay.text
    # the drag ends (sigRegionChangeFinished): the record keeps both values, the axes follow
    roi.setSize(size * 1.10, center=(0.5, 0.5), finish=True)
    qtbot.waitUntil(lambda: bio.head_measurements(still["sop_instance_uid"], 0)["BPD"].source == "edited",
                    timeout=5000)
    ms = bio.head_measurements(still["sop_instance_uid"], 0)
    hc, bpd, ofd = ms["HC"], ms["BPD"], ms["OFD"]
    assert hc.source == "edited" and hc.measurement_id == hc0.measurement_id
    assert hc.perimeter_mm == pytest.approx(hc0.perimeter_mm * 1.10, rel=1e-3)
    assert hc.automatic_values["value_mm"] == pytest.approx(hc0.perimeter_mm)
    assert bpd.length_mm == pytest.approx(bpd0.length_mm * 1.10, rel=1e-3)
    assert ofd.length_mm == pytest.approx(ofd0.length_mm * 1.10, rel=1e-3)
    assert bpd.automatic_values["value_mm"] == pytest.approx(bpd0.length_mm)
    values = bio.panel.parameter_values()
    assert _number(values["HC"]["Value"]) == pytest.approx(hc.perimeter_mm, abs=0.051)
    assert values["HC"]["Source"] == "edited"
    assert f"automatic HC was {hc0.perimeter_mm:.1f} mm" in bio.overlay.text
    stored = load_exam_record(window.current_loop.study_instance_uid)
    saved = stored.measurement(hc.measurement_id)
    assert saved.source == "edited" and saved.perimeter_mm == pytest.approx(hc.perimeter_mm)
    assert saved.automatic_values["value_mm"] == pytest.approx(hc0.perimeter_mm)

    # an axis end point dragged on its own: only that value changes, the ellipse stays
    bpd_roi = window.layer.roi_of(bpd.measurement_id)
    handle = bpd_roi.getHandles()[1]
    end = bpd_roi.mapToParent(handle.pos())
    (x1, y1), (x2, y2) = bpd.points_px
    ux, uy = (x2 - x1) / math.hypot(x2 - x1, y2 - y1), (y2 - y1) / math.hypot(x2 - x1, y2 - y1)
    bpd_roi.movePoint(handle, QPointF(end.x() + 20 * ux, end.y() + 20 * uy), finish=True)  # view coords
    qtbot.waitUntil(lambda: bio.head_measurements(still["sop_instance_uid"], 0)["BPD"].length_mm
                    > bpd.length_mm + 1.0, timeout=5000)
    ms2 = bio.head_measurements(still["sop_instance_uid"], 0)
    assert ms2["BPD"].length_mm == pytest.approx(bpd.length_mm + 20 * still["pixel_size_mm"], abs=0.05)
    assert ms2["HC"].perimeter_mm == pytest.approx(hc.perimeter_mm)
    assert _number(bio.panel.parameter_values()["BPD"]["Value"]) == pytest.approx(ms2["BPD"].length_mm, abs=0.051)


def _hc_in_text(text: str) -> float:
    line = next(s for s in text.splitlines() if s.startswith("HC "))
    return float(line.split()[1])


def test_automatic_mode_measures_a_paused_head_frame_and_is_a_setting(qtbot, window):  # noqa: F811
    from fetalviewer.settings import load_settings

    still = _truth_still("US_still_436_HC.dcm")
    open_and_wait(qtbot, window, [sample_study_dir()])
    bio = window.biometry
    index = next(i for i, lp in enumerate(window.instances) if lp.sop_instance_uid == still["sop_instance_uid"])
    with qtbot.waitSignal(bio.finished, timeout=120000):
        bio.panel.auto_check.setChecked(True)  # the panel's check box
        window.select_instance(index)
    assert load_settings()["auto_head_biometry"] is True
    hc = bio.head_measurements(still["sop_instance_uid"], 0)["HC"]
    assert hc.source == "automatic"
    assert hc.perimeter_mm == pytest.approx(still["hc_mm"], rel=HC_TOLERANCE_REL)


def test_panel_lists_manual_calipers_with_ga_efw_and_refusals_with_the_range(qtbot, window):  # noqa: F811
    still = _truth_still()
    open_and_wait(qtbot, window, [sample_study_dir()])
    index = next(i for i, lp in enumerate(window.instances) if lp.sop_instance_uid == still["sop_instance_uid"])
    window.select_instance(index)
    loop, mm = window.current_loop, still["pixel_size_mm"]
    cx, cy = 400.0, 320.0
    ac_r_px = 150.0 / (2 * math.pi) / mm  # a circle of perimeter 150 mm
    ac = window.measurements.add(loop, 0, "ellipse", {"center_px": (cx, cy), "semi_axes_px": (ac_r_px, ac_r_px),
                                                       "angle_deg": 0.0})
    fl = window.measurements.add(loop, 0, "distance", {"points_px": ((cx - 100, cy), (cx - 100 + 32.0 / mm, cy))})
    window.measurements.set_label(ac.measurement_id, "AC")
    window.measurements.set_label(fl.measurement_id, "FL")
    panel = window.biometry.panel
    values = panel.parameter_values()
    assert _number(values["AC"]["Value"]) == pytest.approx(150.0, abs=0.1)
    assert _number(values["FL"]["Value"]) == pytest.approx(32.0, abs=0.1)
    assert values["AC"]["Source"] == "manual" and "Hadlock 1984 (AC)" in values["AC"]["GA (equation)"]
    assert any(e.startswith("Hadlock 1985 (AC+FL): ") and e.endswith(" g") for e in panel.summary.efw)
    assert panel.summary.combined_ga.startswith("Combined GA, Hadlock 1984 (AC+FL)")
    # a value outside an equation's range is refused, with the range
    small = window.measurements.add(loop, 0, "ellipse", {"center_px": (cx, cy), "semi_axes_px": (30.0, 30.0),
                                                          "angle_deg": 0.0})
    window.measurements.set_label(small.measurement_id, "HC")
    values = panel.parameter_values()
    assert "outside the valid range 68-360 mm" in values["HC"]["GA (equation)"]  # HC 24 mm
    assert "unavailable" in panel.summary.combined_ga and "68-360 mm" in panel.summary.combined_ga
    assert {r[0] for r in panel.summary.measurement_rows} == {"AC", "FL", "HC"}
    assert all(r[2] == "manual" for r in panel.summary.measurement_rows)


def _force_heart_on_bright_frames(monkeypatch):
    """The tiny model's zero-shot planes are random: call a frame 'heart' when its pixels are bright, for
    the window's workspace and ``analyze`` alike (both read out through the engine; embeddings stay real)."""
    import dataclasses

    from fetalviewer.model.engine import FetalClipEngine
    from fetalviewer.model.planes import PLANE_CLASSES

    real = FetalClipEngine.predict_embeddings

    def predict_embeddings(self, inputs, embeddings, options=None):
        preds = real(self, inputs, embeddings) if options is None else real(self, inputs, embeddings, options)
        out = []
        for item, pred in zip(inputs, preds, strict=True):
            plane = "heart" if float(item.image.mean()) > 128 else "abdomen"
            probs = {k: (0.9 if k == plane else 0.1 / (len(PLANE_CLASSES) - 1)) for k in PLANE_CLASSES}
            out.append(dataclasses.replace(pred, plane_probs=probs, top_plane=plane, top_prob_0_1=0.9))
        return out

    monkeypatch.setattr(FetalClipEngine, "predict_embeddings", predict_embeddings)


def test_window_chd_score_equals_the_cli_score(  # noqa: F811 (fixtures)
    qtbot, tiny_loaded, tiny_weights, tiny_config, tmp_path, capsys, monkeypatch  # noqa: F811
):
    """The window's CHD head reads the same UN-normalised heart-frame embeddings as ``fetalviewer analyze``."""
    import numpy as np
    import torch

    from fetalviewer.settings import update_settings
    from fetalviewer.ui.app import ensure_application
    from fetalviewer.ui.biometry_panel import window_chd
    from fetalviewer.ui.main_window import MainWindow
    from tests.model_fixtures import write_us_dicom
    from tests.test_analyze_heads import _analyze, _install_chd_head

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _install_chd_head(tiny_loaded, tmp_path)
        _force_heart_on_bright_frames(monkeypatch)
        rng = np.random.default_rng(11)
        frames = np.stack([rng.integers(150 if i in (1, 2) else 0, 256 if i in (1, 2) else 100, (60, 80))
                           for i in range(4)]).astype(np.uint8)
        cine = write_us_dicom(tmp_path / "cine.dcm", frames)
        code, data, _text = _analyze(tmp_path, capsys, cine, "--weights", tiny_weights, "--config", tiny_config)
        assert code == 0
        cli = data["clips"][0]["chd"]
        assert cli["chd_frames_used"] == [1, 2] and cli["chd_score_0_1"] is not None

        update_settings(weights_path=str(tiny_weights), weights_config_path=str(tiny_config))
        ensure_application()
        win = MainWindow()
        qtbot.addWidget(win)
        win.show()
        open_and_wait(qtbot, win, [cine])
        ws = win.workspace
        with qtbot.waitSignal(ws.analysis_finished, timeout=300000):
            ws.analyse()
        loaded = ws.worker.backend.loaded

        def no_model(*_a, **_k):
            raise AssertionError("the window's CHD section must not run the backbone (GUI thread)")

        monkeypatch.setattr(type(loaded), "encode_image", no_model)
        result = window_chd(win.biometry)
        assert result.score is not None, result.text
        assert list(result.heart_frames) == cli["chd_frames_used"]
        assert result.score.prob_abnormal_0_1 == pytest.approx(cli["chd_score_0_1"], abs=1e-4)
        assert result.flag is cli["chd_review_flag"]
        win.biometry.refresh_panel()
        assert win.biometry.panel.summary.chd == result.text and "2 heart frames" in result.text
        # the normalised embeddings (what the window used to feed the head) give another score
        analysis = ws.results[win.current_loop.sop_instance_uid]
        from fetalviewer.model.heads.backbone import BackboneSpec
        from fetalviewer.model.heads.headfile import find_head
        from fetalviewer.ui.biometry_panel import _chd_probe

        spec = BackboneSpec.from_loaded(ws.worker.backend.loaded)
        probe = _chd_probe(str(find_head("chd", spec).path), spec)
        wrong = probe.score(analysis.embeddings[[1, 2]]).prob_abnormal_0_1
        assert abs(wrong - cli["chd_score_0_1"]) > 1e-3
        win.player.pause()
        win.close()
    finally:
        torch.set_num_threads(threads)


def test_fetalclip_seg_head_runs_on_the_model_thread(  # noqa: F811 (fixtures)
    qtbot, tiny_loaded, tiny_weights, tiny_config, tmp_path, monkeypatch  # noqa: F811
):
    """The trained FetalCLIP seg head touches the backbone only on the inference service's worker thread."""
    import threading

    import numpy as np
    import torch

    from fetalviewer.model.heads.runtime import SegHead
    from fetalviewer.settings import update_settings
    from fetalviewer.ui.app import ensure_application
    from fetalviewer.ui.main_window import MainWindow
    from tests.model_fixtures import write_us_dicom
    from tests.test_analyze_heads import _install_seg_head

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _install_seg_head(tiny_loaded, tmp_path)
        seen = []
        real = SegHead.segment

        def segment(self, loaded, image, region=None):
            seen.append(threading.current_thread().name)
            return real(self, loaded, image, region)

        monkeypatch.setattr(SegHead, "segment", segment)
        rng = np.random.default_rng(4)
        still = write_us_dicom(tmp_path / "still.dcm", rng.integers(0, 256, (60, 80), dtype=np.uint8))
        update_settings(weights_path=str(tiny_weights), weights_config_path=str(tiny_config))
        ensure_application()
        win = MainWindow()
        qtbot.addWidget(win)
        win.show()
        open_and_wait(qtbot, win, [still])
        ws = win.workspace
        with qtbot.waitSignal(ws.model_state_changed, timeout=120000, check_params_cb=lambda s: s == "ready"):
            ws.ensure_model()
        statuses: list[str] = []
        win.biometry.status.connect(statuses.append)
        with qtbot.waitSignal(win.biometry.finished, timeout=120000) as blocker:
            win.biometry.measure_current()
        result = blocker.args[0]
        assert result.error is None, result.error
        assert seen and all(name.startswith("fetalclip-worker") for name in seen), seen
        assert "FetalCLIP" in result.model or "seg" in result.model.lower(), result.model
        # the status says which head ran (it used to say "default head model" whatever ran)
        assert result.source == "fetalclip-seg-head"
        assert "(FetalCLIP seg head " in statuses[-1] and "default head model" not in " ".join(statuses)
        win.player.pause()
        win.close()
    finally:
        torch.set_num_threads(threads)
