"""First start of the window: open the bundled sample once, and ask for the FetalCLIP weights.

The weights dialog appears when no weights are configured (``resolve_weights`` finds none: no
``--weights``, no ``FETALVIEWER_WEIGHTS``, nothing installed, nothing in the install's ``weights/``) and
the user has not ticked "Don't ask again". It takes the weights file or the folder holding it, checks it
with the same code as ``fetalviewer weights install`` (``fetalviewer.model.weights.install_weights``:
strict load, sha256, then the settings record) on a worker thread with a progress bar (the real file
is 1.7 GB), and only then remembers it. Skipping keeps every non-AI feature working.

Settings keys: ``first_run_weights_dont_ask`` (bool), ``first_run_sample_opened`` (bool).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from fetalviewer.errors import WeightsNotFound
from fetalviewer.model.weights import weights_in_folder
from fetalviewer.settings import load_settings, update_settings

log = logging.getLogger(__name__)

DONT_ASK_KEY = "first_run_weights_dont_ask"
SAMPLE_OPENED_KEY = "first_run_sample_opened"


def weights_configured() -> bool:
    """True when ``candidate_weights`` finds a weights file (command line aside; no torch import)."""
    from fetalviewer.model.weights import candidate_weights

    try:
        candidate_weights()
    except WeightsNotFound:
        return False
    return True


def should_ask_for_weights(session_weights: str | None = None) -> bool:
    """Ask at start: no weights given for this session, none configured, and "don't ask" not ticked."""
    if session_weights or load_settings().get(DONT_ASK_KEY):
        return False
    return not weights_configured()


class FirstRunWeightsDialog(QDialog):
    """Asks for the FetalCLIP weights file (or folder), verifies it off the GUI thread, remembers it."""

    verified = Signal(dict)  # the settings record written by install_weights
    failed = Signal(str)  # why the file was refused (nothing was remembered)
    _progress_relay = Signal(str, float)  # emitted from the worker thread, handled on the GUI thread

    def __init__(self, parent=None, config_path: str | Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("FetalCLIP weights")
        self.setModal(True)
        self.setMinimumWidth(560)
        self._config_path = Path(config_path) if config_path is not None else None
        self._worker = None
        self.record: dict | None = None

        intro = QLabel(
            "FetalViewer's AI decision support needs the FetalCLIP weights (FetalCLIP_weights.pt, 1.7 GB) or "
            "the MobileFetalCLIP weights (mobile_fetal_clip_weights.pt, fast on a CPU); both licence CC BY-NC "
            "4.0. They are not included and never downloaded: choose your copy of a file or the folder that "
            "holds it. It is checked to load, and which model it holds is shown, before it is remembered.<br><br>"
            "You can skip this: viewing, calipers, head biometry with the default model and reports work "
            "without the weights. Later: the <i>Install model weights…</i> button of the AI review panel "
            "or <tt>fetalviewer weights install PATH</tt>."
        )
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.RichText)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("FetalCLIP_weights.pt or its folder")
        self.file_button = QPushButton("File…")
        self.folder_button = QPushButton("Folder…")
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.file_button)
        row.addWidget(self.folder_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.dont_ask = QCheckBox("Don't ask again")
        self.buttons = QDialogButtonBox()
        self.verify_button = self.buttons.addButton("Verify and use", QDialogButtonBox.AcceptRole)
        self.skip_button = self.buttons.addButton("Skip", QDialogButtonBox.RejectRole)
        self.verify_button.setDefault(True)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addWidget(self.dont_ask)
        layout.addWidget(self.buttons)

        self.file_button.clicked.connect(self._on_file_button_clicked)
        self.folder_button.clicked.connect(self._on_folder_button_clicked)
        self.buttons.accepted.connect(self.verify)
        self.buttons.rejected.connect(self.reject)
        self._progress_relay.connect(self._on_worker_progress)

    # -- choosing ----------------------------------------------------------------------------------
    def _on_file_button_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "FetalCLIP weights file", "", "Weights (*.pt *.pth *.bin *.safetensors);;All files (*)"
        )
        if path:
            self.path_edit.setText(path)

    def _on_folder_button_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder holding FetalCLIP_weights.pt")
        if path:
            self.path_edit.setText(path)

    @property
    def busy(self) -> bool:
        return self._worker is not None

    # -- verifying ---------------------------------------------------------------------------------
    def verify(self) -> None:
        """Check the chosen file (or folder) on a worker thread; ``verified`` or ``failed`` follows."""
        if self.busy:
            return
        text = self.path_edit.text().strip()
        if not text:
            self._show_failure("Choose the weights file or its folder first.")
            return
        path = Path(text).expanduser()
        config = self._config_path
        try:
            if path.is_dir():
                path, folder_config = weights_in_folder(path)
                config = config or folder_config
            elif not path.is_file():
                raise WeightsNotFound(f"{path}: file not found")
        except WeightsNotFound as exc:
            self._show_failure(str(exc))
            return
        from superqt.utils import create_worker

        from fetalviewer.model.weights import install_weights

        self._set_busy(True, f"Checking {path.name}…")
        self._worker = create_worker(
            install_weights,
            str(path),
            str(config) if config is not None else None,
            progress=self._progress_relay.emit,
            _connect={"returned": self._on_worker_returned, "errored": self._on_worker_errored},
        )

    def _set_busy(self, busy: bool, message: str = "") -> None:
        for widget in (self.path_edit, self.file_button, self.folder_button, self.verify_button, self.skip_button):
            widget.setEnabled(not busy)
        self.progress.setVisible(busy)
        self.progress.setValue(0)
        self.status_label.setStyleSheet("")
        self.status_label.setText(message)

    def _on_worker_progress(self, stage: str, fraction: float) -> None:
        if self.busy:
            self.progress.setValue(int(round(100 * max(0.0, min(1.0, fraction)))))
            self.progress.setFormat(f"{stage} %p%")

    def _on_worker_returned(self, record: dict) -> None:
        self._worker = None
        held = f" ({record['description']})" if record.get("description") else ""
        self._set_busy(False, f"Verified and remembered: {record.get('weights_path')}{held}")
        self.record = record
        log.info("first run: FetalCLIP weights installed (%s)", Path(record.get("weights_path", "")).name)
        self.verified.emit(record)
        self.accept()

    def _on_worker_errored(self, exc: Exception) -> None:
        self._worker = None
        self._set_busy(False)
        self._show_failure(f"Not usable, nothing was remembered: {exc}")

    def _show_failure(self, message: str) -> None:
        self.status_label.setStyleSheet("color: #ff8a80;")
        self.status_label.setText(message)
        self.failed.emit(message)

    # -- closing -----------------------------------------------------------------------------------
    def reject(self) -> None:
        if self.busy:  # the check finishes first (it cannot be interrupted halfway through a write)
            return
        if self.dont_ask.isChecked():
            update_settings(**{DONT_ASK_KEY: True})
        super().reject()


def run_first_start(window, paths_given: bool) -> FirstRunWeightsDialog | None:
    """On start: open the sample the very first time (when no paths were given), then ask for weights.

    Returns the (non-blocking, window-modal) weights dialog when it is shown, else None.
    """
    settings = load_settings()
    if not paths_given and not settings.get(SAMPLE_OPENED_KEY):
        update_settings(**{SAMPLE_OPENED_KEY: True})
        window.open_sample()
    if not should_ask_for_weights(window.weights_path):
        return None
    dialog = FirstRunWeightsDialog(window)

    def on_verified(record: dict) -> None:
        # the settings now name the weights, as after 'weights install'
        window.workspace.set_weights(None, record.get("weights_config_path"))

    dialog.verified.connect(on_verified)
    log.info("first run: no FetalCLIP weights configured; asking for them")
    dialog.open()
    window.first_run_dialog = dialog
    return dialog
