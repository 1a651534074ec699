"""The window's wiring: menus by key, add_action for new entries, one close hook for every part."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QAction
from test_ui_window import window  # noqa: F401 (fixture)

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")  # the offscreen platform, on show()


def _texts(menu) -> list[str]:
    return [a.text() for a in menu.actions()]


def test_menus_are_kept_by_key_and_features_use_add_action(window):  # noqa: F811
    assert {"file", "view", "cine", "measure", "help"} <= set(window.menus)
    file_menu = _texts(window.menus["file"])
    assert file_menu.index("Export…") < file_menu.index(window.actions["quit"].text())  # export before quit
    assert "Measure head (automatic)" in _texts(window.menus["measure"])
    # a new entry: one call puts it in the menu, the actions and the toolbar
    action = QAction("Send to PACS…", window)
    window.add_action("send", action, menu="file", before="export", toolbar_text="Send")
    assert window.actions["send"] is action
    file_menu = _texts(window.menus["file"])
    assert file_menu.index("Send to PACS…") < file_menu.index("Export…")
    assert window.toolbar.widgetForAction(action).text() == "Send"
    with pytest.raises(ValueError, match="send"):
        window.add_action("send", QAction("again", window), menu="help")


def test_closing_stops_every_part_once(window, monkeypatch):  # noqa: F811
    calls: list[str] = []
    for name in ("workspace", "biometry", "sr_panel", "exporter", "fetcher", "network"):
        part = getattr(window, name)
        monkeypatch.setattr(part, "shutdown", lambda name=name, real=part.shutdown: (calls.append(name), real()))
    window.close()
    window.shutdown()  # again (e.g. the application quitting afterwards): nothing runs twice
    assert sorted(calls) == ["biometry", "exporter", "fetcher", "network", "sr_panel", "workspace"]
