"""File > Batch analysis...: the dialog runs the same batch as ``fetalviewer batch`` on a worker (same frame
rows as the command line on the same archive), Cancel stops after the current file and leaves a folder
that the next Start completes, and a bad form gives the command line's one-line message."""

from __future__ import annotations

import pytest

from fetalviewer.ui.app import ensure_application
from tests.model_fixtures import TINY_CONFIG, tiny_state, tiny_weights  # noqa: F401 (fixtures)
from tests.test_batch import STEP, _assert_same_frames, _frames, _problems, archive, local_out  # noqa: F401

pytest.importorskip("pyarrow")
pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")  # offscreen platform


@pytest.fixture()
def dialog_factory(qtbot, tiny_weights, tmp_path, monkeypatch):  # noqa: F811
    ensure_application()
    monkeypatch.setenv("FETALVIEWER_HOME", str(tmp_path / "home"))
    from fetalviewer.ui.batch_dialog import BatchDialog

    def make(sources, out):
        dialog = BatchDialog(None, weights=str(tiny_weights), config=str(TINY_CONFIG))
        qtbot.addWidget(dialog)
        dialog.add_sources([str(s) for s in sources])
        dialog.out_edit.setText(str(out))
        dialog.step_spin.setValue(STEP)
        dialog.device_combo.setCurrentText("cpu")
        return dialog

    return make


def _run_to_end(qtbot, dialog) -> None:
    dialog.start_button.click()
    assert dialog.running and not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.running, timeout=60_000)


def test_file_menu_opens_the_batch_dialog(qtbot):
    ensure_application()
    from fetalviewer.ui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    file_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&File")
    action = next(a for a in file_menu.actions() if a.text() == "Batch analysis...")
    assert win.actions["batch"] is action
    action.trigger()
    assert win.batch_dialog is not None and win.batch_dialog.isVisible()
    assert [win.batch_dialog.model_combo.itemData(i) for i in range(3)] == [
        "auto",
        "fetalclip",
        "mobilefetalclip",
    ]


def test_dialog_run_equals_the_command_line(
    qtbot, archive, local_out, tmp_path, dialog_factory, one_torch_thread  # noqa: F811 (fixtures)
):
    out = tmp_path / "out"
    dialog = dialog_factory([archive[0]], out)
    lines = []
    dialog._relay.line.connect(lines.append)
    _run_to_end(qtbot, dialog)
    report = dialog.report
    assert report is not None, dialog.status_label.text()
    assert report.frames == archive[1] and report.problems == 3
    _assert_same_frames(_frames(out), _frames(local_out))
    assert _problems(out).keys() == _problems(local_out).keys()
    for name in ("studies.parquet", "studies.csv", "problems.csv", "summary.html"):
        assert (out / name).is_file(), name
    assert any("frames/s" in line and "ETA" in line for line in lines)
    assert dialog.status_label.text() == report.summary_line(out)
    assert "problems: 3" in dialog.result_label.text()
    assert dialog.open_folder_button.isEnabled() and dialog.open_summary_button.isEnabled()


def test_cancel_keeps_finished_files_and_start_resumes(
    qtbot, archive, local_out, tmp_path, dialog_factory, one_torch_thread  # noqa: F811 (fixtures)
):
    out = tmp_path / "out"
    dialog = dialog_factory([archive[0]], out)
    dialog.start_button.click()
    dialog.cancel_button.click()  # before the model is loaded: the run stops after its first file
    qtbot.waitUntil(lambda: not dialog.running, timeout=60_000)
    assert dialog.report is None and "Cancelled" in dialog.status_label.text(), dialog.status_label.text()
    partial = _frames(out)
    assert 0 < len(partial) < archive[1]
    assert not (out / "summary.html").exists()

    _run_to_end(qtbot, dialog)  # Start again on the same folder: the rest, each frame once
    assert dialog.report is not None and dialog.report.skipped_files >= 1, dialog.status_label.text()
    _assert_same_frames(_frames(out), _frames(local_out))


def test_bad_form_shows_the_command_line_message(qtbot, tmp_path, dialog_factory):
    dialog = dialog_factory([], tmp_path / "out")
    dialog.start_button.click()
    assert not dialog.running
    assert dialog.status_label.text() == "batch: sources: give at least one SOURCE"


def test_ray_choice_off_without_ray_with_the_command_line_message(
    qtbot, tmp_path, dialog_factory, monkeypatch
):
    from fetalviewer.batch.ray_engine import INSTALL_HINT, NOT_INSTALLED
    from fetalviewer.ui import batch_dialog

    monkeypatch.setattr(batch_dialog, "ray_installed", lambda: False)
    dialog = dialog_factory([], tmp_path / "out")
    assert not dialog.engine_combo.model().item(1).isEnabled()
    assert dialog.engine_note.text() == NOT_INSTALLED and INSTALL_HINT in NOT_INSTALLED
