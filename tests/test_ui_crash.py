"""An unexpected error in any thread writes a crash report and the window shows a dialog naming it."""

from __future__ import annotations

import sys
import threading

import pytest

from fetalviewer.crash import install_crash_handler
from fetalviewer.paths import user_dirs
from fetalviewer.ui.app import ensure_application

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


@pytest.fixture
def restore_hooks():
    saved = sys.excepthook, threading.excepthook
    yield
    sys.excepthook, threading.excepthook = saved


def test_worker_thread_crash_shows_dialog_with_report(qtbot, restore_hooks):
    ensure_application()
    from fetalviewer.ui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    install_crash_handler(win.report_unexpected_error)

    def _boom():
        raise RuntimeError("decoder exploded")

    worker = threading.Thread(target=_boom)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: win.crash_dialog is not None and win.crash_dialog.isVisible(), timeout=5000)
    reports = sorted(user_dirs().log_dir.glob("crash-*.txt"))
    assert len(reports) == 1 and "decoder exploded" in reports[0].read_text()
    text = win.crash_dialog.text()
    assert "decoder exploded" in text and str(reports[0]) in text
    assert not win.crash_dialog.isModal()
    win.crash_dialog.close()
