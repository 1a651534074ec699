"""Help > Validate installation...: the dialog runs the same job as ``fetalviewer validate`` on a worker,
with progress, cancel, errors naming the file and the report it wrote."""

from __future__ import annotations

import json

import pytest

from fetalviewer.ui.app import ensure_application
from tests.model_fixtures import TINY_CONFIG, tiny_state, tiny_weights  # noqa: F401 (fixtures)
from tests.test_validate import _planes_db, _planes_rows

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")  # offscreen platform


@pytest.fixture()
def dialog_factory(qtbot, tiny_weights):  # noqa: F811
    ensure_application()
    from fetalviewer.ui.validate_dialog import ValidateDialog

    def make():
        dialog = ValidateDialog(None, weights=str(tiny_weights), config=str(TINY_CONFIG))
        qtbot.addWidget(dialog)
        dialog.device_combo.setCurrentText("cpu")
        return dialog

    return make


def test_help_menu_opens_the_validate_dialog(qtbot):
    ensure_application()
    from fetalviewer.ui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    help_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Help")
    action = next(a for a in help_menu.actions() if a.text() == "Validate installation...")
    action.trigger()
    assert win.validate_dialog is not None and win.validate_dialog.isVisible()
    assert win.validate_dialog.job == "planes"


def test_dialog_runs_the_job_and_shows_the_verdict(qtbot, tmp_path, dialog_factory, one_torch_thread):
    db = _planes_db(tmp_path / "db", _planes_rows()[:9])
    dialog = dialog_factory()
    dialog.data_edit.setText(str(db))
    dialog.out_edit.setText(str(tmp_path / "out"))
    seen = []
    dialog._relay.progress.connect(seen.append)
    dialog.run_button.click()
    assert dialog.running and not dialog.run_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.running, timeout=120_000)
    assert dialog.outcome is not None, dialog.status_label.text()
    assert dialog.outcome.pdf_path.is_file() and dialog.open_button.isEnabled()
    report = json.loads(dialog.outcome.json_path.read_text())
    assert report["summary"]["n_images"] == 8  # one of the nine rows is "Other"
    assert dialog.verdict_label.text().startswith(report["verdict"])
    assert any(p.stage == "zero-shot planes" and p.done == 8 for p in seen)
    assert str(dialog.outcome.pdf_path) in dialog.status_label.text()


def test_dialog_cancel_and_bad_folder(qtbot, tmp_path, dialog_factory, one_torch_thread):
    db = _planes_db(tmp_path / "db", _planes_rows()[:6])
    dialog = dialog_factory()
    dialog.data_edit.setText(str(db))
    dialog.out_edit.setText(str(tmp_path / "out"))
    failures = []
    dialog.failed_job.connect(failures.append)
    dialog.run_button.click()
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=120_000)
    assert dialog.outcome is None and failures and failures[-1].startswith("Cancelled")
    assert not (tmp_path / "out" / "acceptance-planes.pdf").exists()

    missing = sorted((db / "Images").iterdir())[0]
    missing.unlink()
    dialog.run_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=60_000)
    assert str(missing) in dialog.status_label.text() and dialog.outcome is None
