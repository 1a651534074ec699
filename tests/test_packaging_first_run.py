"""First start: the weights dialog verifies with the 'weights install' code, remembers only what loads."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtWidgets import QDialog, QWidget

from fetalviewer.errors import WeightsNotFound
from fetalviewer.settings import load_settings
from fetalviewer.ui.first_run import (
    DONT_ASK_KEY,
    SAMPLE_OPENED_KEY,
    FirstRunWeightsDialog,
    run_first_start,
    should_ask_for_weights,
    weights_in_folder,
)
from tests.model_fixtures import TINY_CONFIG, save_official, tiny_state_dict

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")  # the offscreen platform, on show()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    return save_official(tiny_state_dict(seed=3), tmp_path_factory.mktemp("tiny") / "tiny_fetalclip.pt")


def test_weights_in_folder_prefers_official_name_and_finds_the_config(tmp_path):
    (tmp_path / "other.safetensors").write_bytes(b"x")
    (tmp_path / "FetalCLIP_weights.pt").write_bytes(b"x")
    (tmp_path / "notes.json").write_text('{"a": 1}')
    weights, config = weights_in_folder(tmp_path)
    assert weights.name == "FetalCLIP_weights.pt" and config is None
    shutil.copy(TINY_CONFIG, tmp_path / "my_config.json")
    assert weights_in_folder(tmp_path)[1] == tmp_path / "my_config.json"


def test_weights_in_folder_refuses_empty_and_ambiguous_folders(tmp_path):
    with pytest.raises(WeightsNotFound, match="no weights file"):
        weights_in_folder(tmp_path)
    (tmp_path / "a.pt").write_bytes(b"x")
    assert weights_in_folder(tmp_path)[0].name == "a.pt"
    (tmp_path / "b.pt").write_bytes(b"x")
    with pytest.raises(WeightsNotFound, match="several weights files"):
        weights_in_folder(tmp_path)


def test_dialog_verifies_a_folder_and_remembers_it(qtbot, tmp_path, tiny_checkpoint):
    folder = tmp_path / "fetalclip"
    folder.mkdir()
    shutil.copy(tiny_checkpoint, folder / "tiny.pt")
    shutil.copy(TINY_CONFIG, folder / "tiny_config.json")
    assert should_ask_for_weights()
    dialog = FirstRunWeightsDialog()
    qtbot.addWidget(dialog)
    stages = []
    dialog._progress_relay.connect(lambda stage, _f: stages.append(stage))
    dialog.path_edit.setText(str(folder))
    with qtbot.waitSignal(dialog.verified, timeout=120_000) as blocker:
        dialog.verify_button.click()
        assert dialog.busy and not dialog.skip_button.isEnabled()
    record = blocker.args[0]
    assert record["weights_path"] == str((folder / "tiny.pt").resolve())
    assert dialog.result() == QDialog.Accepted
    assert "reading weights" in stages
    settings = load_settings()
    assert settings["weights_path"] == record["weights_path"]
    assert settings["weights_config_path"] == str((folder / "tiny_config.json").resolve())
    assert len(settings["weights_sha256"]) == 64
    assert not should_ask_for_weights()


def test_dialog_refuses_a_broken_file_and_remembers_nothing(qtbot, tmp_path):
    broken = tmp_path / "broken_weights.pt"
    broken.write_bytes(b"this is not a checkpoint" * 100)
    dialog = FirstRunWeightsDialog(config_path=TINY_CONFIG)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.path_edit.setText(str(broken))
    with qtbot.waitSignal(dialog.failed, timeout=60_000) as blocker:
        dialog.verify()
    message = blocker.args[0]
    assert "broken_weights.pt" in message and "nothing was remembered" in message
    assert dialog.status_label.text() == message
    assert dialog.isVisible() and not dialog.busy and dialog.verify_button.isEnabled()
    assert "weights_path" not in load_settings()
    assert should_ask_for_weights()


def test_dialog_missing_path_is_explained_without_a_worker(qtbot, tmp_path):
    dialog = FirstRunWeightsDialog()
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.failed) as blocker:
        dialog.path_edit.setText(str(tmp_path / "nowhere.pt"))
        dialog.verify()
    assert "nowhere.pt" in blocker.args[0] and "not found" in blocker.args[0]
    assert not dialog.busy


def test_skip_with_dont_ask_again_is_remembered(qtbot):
    dialog = FirstRunWeightsDialog()
    qtbot.addWidget(dialog)
    dialog.dont_ask.setChecked(True)
    dialog.skip_button.click()
    assert dialog.result() == QDialog.Rejected
    assert load_settings()[DONT_ASK_KEY] is True
    assert not should_ask_for_weights()


def test_skip_without_dont_ask_asks_again(qtbot):
    dialog = FirstRunWeightsDialog()
    qtbot.addWidget(dialog)
    dialog.skip_button.click()
    assert DONT_ASK_KEY not in load_settings()
    assert should_ask_for_weights()
    assert not should_ask_for_weights(session_weights="/given/with/--weights.pt")


class _FakeWindow(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.weights_path = None
        self.samples_opened = 0

    def open_sample(self) -> None:
        self.samples_opened += 1


def test_first_start_opens_the_sample_once_and_asks_for_weights(qtbot):
    window = _FakeWindow()
    qtbot.addWidget(window)
    dialog = run_first_start(window, paths_given=False)
    assert window.samples_opened == 1 and load_settings()[SAMPLE_OPENED_KEY] is True
    assert isinstance(dialog, FirstRunWeightsDialog) and dialog.isVisible()
    dialog.skip_button.click()
    again = run_first_start(window, paths_given=False)
    assert window.samples_opened == 1  # the sample only on the very first start
    assert again is not None  # no "don't ask" ticked: asked again
    again.dont_ask.setChecked(True)
    again.skip_button.click()
    assert run_first_start(window, paths_given=False) is None


def test_first_start_with_paths_does_not_open_the_sample(qtbot):
    window = _FakeWindow()
    window.weights_path = "/session/weights.pt"
    qtbot.addWidget(window)
    assert run_first_start(window, paths_given=True) is None
    assert window.samples_opened == 0
