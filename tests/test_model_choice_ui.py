"""The window's model choice (AI panel): both models installed side by side, MobileFetalCLIP chosen, its values
labelled with its name on the badge, the caption, the timeline tooltip and the findings; another choice shows
none of them (results per model, never mixed), and coming back shows them again from that model's cache."""

from __future__ import annotations

import pytest

from fetalviewer.settings import load_settings, update_settings
from tests.mobile_fixtures import TINY_MOBILE_CONFIG, tiny_mobile_state, tiny_mobile_weights  # noqa: F401
from tests.model_fixtures import TINY_CONFIG, tiny_state, tiny_weights  # noqa: F401 (fixtures)
from tests.test_workspace_ui import STILL, close_window, data_file, make_window, open_and_wait

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def _choose(qtbot, ws, choice: str) -> None:
    combo = ws.view.controls.model_combo
    index = combo.findData(choice)
    combo.setCurrentIndex(index)
    with qtbot.waitSignal(ws.cache_checked, timeout=60000):
        combo.activated.emit(index)
    ws.view.flush()


def test_model_choice_labels_values_and_keeps_results_apart(qtbot, tiny_weights, tiny_mobile_weights):  # noqa: F811
    update_settings(installed_weights={
        "fetalclip": {"weights_path": str(tiny_weights), "weights_config_path": str(TINY_CONFIG)},
        "mobilefetalclip": {"weights_path": str(tiny_mobile_weights),
                            "weights_config_path": str(TINY_MOBILE_CONFIG)},
    })  # fmt: skip
    win, ws = make_window(qtbot)
    try:
        open_and_wait(qtbot, win, [data_file(STILL)])
        _choose(qtbot, ws, "mobilefetalclip")
        assert load_settings()["model_choice"] == "mobilefetalclip" and not ws.results
        done, failed = [], []
        ws.analysis_finished.connect(done.append)
        ws.worker.analysis_failed.connect(lambda _rid, message: failed.append(message))
        ws.analyse()
        qtbot.waitUntil(lambda: bool(done or failed), timeout=300000)
        assert not failed
        ws.view.flush()
        assert ws.worker.backend.loaded.info.model_name == "MobileFetalCLIP"
        assert ws.worker.backend.loaded.input_px == 256
        badge = ws.view.badge.plain_text()
        assert badge.endswith("AI · MobileFetalCLIP zero-shot")
        assert "MobileFetalCLIP zero-shot" in ws.view.caption.text()
        assert "MobileFetalCLIP zero-shot" in ws.view.timeline.toolTip()
        assert "MobileFetalCLIP zero-shot probability" in ws.view.findings.summary.text()
        mobile_results = {uid: a.plane_probs.copy() for uid, a in ws.results.items()}

        _choose(qtbot, ws, "fetalclip")  # FetalCLIP has no results for this study: nothing shown
        assert not ws.results and "FetalCLIP zero-shot" in ws.view.caption.text()
        assert "Mobile" not in ws.view.caption.text()

        _choose(qtbot, ws, "mobilefetalclip")  # MobileFetalCLIP's own cache, labelled with its name
        assert set(ws.results) == set(mobile_results)
        assert all((ws.results[u].plane_probs == p).all() for u, p in mobile_results.items())
        assert ws.view.badge.plain_text() == badge
    finally:
        close_window(win, ws)
