"""Help > Validate installation...: the site acceptance test (``fetalviewer validate``) from the window.

The dialog builds the same :class:`~fetalviewer.validate.jobs.JobRequest` the command line builds and runs
:func:`~fetalviewer.validate.jobs.run_job` on a superqt worker thread; progress (with the ETA) comes back
through a queued signal, Cancel sets the job's cancel flag (the per-image cache keeps what was done, so
the next run continues), and the result shows the verdict with its reason and opens the PDF report.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fetalviewer.ui.dialog_parts import row, show_status
from fetalviewer.ui.theme import ERROR
from fetalviewer.validate.control import RunControl, ValidationCancelled, ValidationProgress
from fetalviewer.validate.jobs import JobOutcome, JobRequest, default_out_dir

JOB_TITLES = {
    "planes": "Plane classification (FETAL_PLANES_DB)",
    "ga": "Gestational age (HC18 training set)",
    "hc": "Head circumference (HC18 training set)",
}
DATA_HINTS = {
    "planes": "folder with FETAL_PLANES_DB_data.csv and Images/",
    "ga": "HC18 folder with training_set/ and training_set_pixel_size_and_HC.csv",
    "hc": "HC18 folder with training_set/ and training_set_pixel_size_and_HC.csv",
}
_VERDICT_STYLE = {"PASS": "color: #2e9d4a;", "FAIL": f"color: {ERROR};"}
SUMMARY_LABELS = {
    "macro_f1": "Five-plane macro F1",
    "per_class_f1": "F1 per class",
    "brain_macro_f1": "Brain sub-plane macro F1",
    "n_images": "Images",
    "n_brain_images": "Brain images",
    "agreement_0_1": "Agreement with the published predictions",
    "valid": "Valid GA predictions",
    "scored": "Images scored",
    "vpr_percent": "Valid prediction rate (%)",
    "mean_abs_hc_error_mm": "Mean |HC error| (mm)",
    "measured": "Images measured",
    "refused": "Images refused",
}


class _ProgressRelay(QObject):
    """Carries progress from the worker thread to the GUI thread (queued signal)."""

    progress = Signal(object)


class ValidateDialog(QDialog):
    """Choose a job and the data folder, run it with progress/cancel, see the verdict, open the report.

    ``weights``/``config`` default to the installed model (the window passes none)."""

    finished_job = Signal(object)  # JobOutcome
    failed_job = Signal(str)

    def __init__(self, parent: QWidget | None = None, weights: str | None = None, config: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("Validate installation")
        self.setMinimumWidth(620)
        self._weights, self._config = weights, config
        self._worker = None
        self._control: RunControl | None = None
        self.outcome: JobOutcome | None = None
        self._relay = _ProgressRelay()
        self._relay.progress.connect(self._on_progress, Qt.QueuedConnection)

        intro = QLabel(
            "Checks that this installation reproduces the published results on the public data sets, "
            "image by image, and writes an acceptance report (PDF and JSON)."
        )
        intro.setWordWrap(True)
        self.job_combo = QComboBox()
        for key, title in JOB_TITLES.items():
            self.job_combo.addItem(title, key)
        self.data_edit = QLineEdit()
        self.data_button = QPushButton("Browse...")
        self.split_combo = QComboBox()
        self.split_combo.addItems(["all", "train", "test"])
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda"])
        self.out_edit = QLineEdit()
        self.out_button = QPushButton("Browse...")
        form = QFormLayout()
        form.addRow("Check", self.job_combo)
        form.addRow("Data folder", row(self.data_edit, self.data_button))
        form.addRow("Split", self.split_combo)
        form.addRow("Device", self.device_combo)
        form.addRow("Report folder", row(self.out_edit, self.out_button))

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.verdict_label = QLabel("")
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.run_button = QPushButton("Run")
        self.cancel_button = QPushButton("Cancel run")
        self.cancel_button.setEnabled(False)
        self.open_button = QPushButton("Open report")
        self.open_button.setEnabled(False)
        self.close_button = QPushButton("Close")
        buttons = QHBoxLayout()
        for b in (self.run_button, self.cancel_button, self.open_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addWidget(self.verdict_label)
        layout.addLayout(buttons)

        self.job_combo.currentIndexChanged.connect(self._on_job_changed)
        self.data_button.clicked.connect(self._browse_data)
        self.out_button.clicked.connect(self._browse_out)
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button.clicked.connect(self.open_report)
        self.close_button.clicked.connect(self.close)
        self._on_job_changed()

    # -- form --------------------------------------------------------------------------------------
    @property
    def job(self) -> str:
        return str(self.job_combo.currentData())

    @property
    def running(self) -> bool:
        return self._worker is not None

    def _on_job_changed(self) -> None:
        self.split_combo.setEnabled(self.job == "planes")
        self.data_edit.setPlaceholderText(DATA_HINTS[self.job])
        self.out_edit.setText(str(default_out_dir(self.job)))

    def _browse_data(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, DATA_HINTS[self.job], self.data_edit.text())
        if folder:
            self.data_edit.setText(folder)

    def _browse_out(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Report folder", self.out_edit.text())
        if folder:
            self.out_edit.setText(folder)

    def request(self) -> JobRequest:
        return JobRequest(
            job=self.job,
            data_dir=Path(self.data_edit.text().strip()),
            out_dir=Path(self.out_edit.text().strip()) if self.out_edit.text().strip() else None,
            split=self.split_combo.currentText(),
            weights=self._weights,
            config=self._config,
            device=self.device_combo.currentText(),
        )

    # -- running -----------------------------------------------------------------------------------
    def start(self) -> None:
        if self.running:
            return
        if not self.data_edit.text().strip():
            self._show_status(f"Choose the data folder: {DATA_HINTS[self.job]}", error=True)
            return
        from superqt.utils import create_worker

        from fetalviewer.validate.jobs import run_job

        self.outcome = None
        self._control = RunControl(self._relay.progress.emit)
        self._set_busy(True)
        self.verdict_label.setText("")
        self._show_status("Starting...")
        self._worker = create_worker(
            run_job,
            self.request(),
            self._control,
            _connect={"returned": self._on_returned, "errored": self._on_errored},
        )

    def cancel(self) -> None:
        if self._control is not None and self.running:
            self._control.cancel()
            self._show_status("Cancelling after the current images...")

    def _set_busy(self, busy: bool) -> None:
        for w in (self.job_combo, self.data_edit, self.data_button, self.device_combo, self.out_edit,
                  self.out_button, self.run_button):  # fmt: skip
            w.setEnabled(not busy)
        self.split_combo.setEnabled(not busy and self.job == "planes")
        self.cancel_button.setEnabled(busy)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)

    def _on_progress(self, p: ValidationProgress) -> None:
        if not self.running:
            return
        self.progress.setRange(0, max(1, p.total))
        self.progress.setValue(p.done)
        self._show_status(p.text())

    def _on_returned(self, outcome: JobOutcome) -> None:
        self._worker = None
        self._set_busy(False)
        self.outcome = outcome
        result = outcome.result
        self.verdict_label.setStyleSheet(_VERDICT_STYLE.get(result.verdict, ""))
        lines = [f"{result.verdict}: {result.verdict_reason}"]
        lines += [f"{SUMMARY_LABELS.get(k, k)}: {_short(v)}" for k, v in result.summary.items()]
        self.verdict_label.setText("\n".join(lines))
        self.adjustSize()
        self._show_status(f"Report written: {outcome.pdf_path}")
        self.open_button.setEnabled(True)
        self.finished_job.emit(outcome)

    def _on_errored(self, exc: Exception) -> None:
        self._worker = None
        self._set_busy(False)
        if isinstance(exc, ValidationCancelled):
            message = "Cancelled. Images done so far are kept; Run continues from there."
            self._show_status(message)
        else:
            message = str(exc)
            self._show_status(message, error=True)
        self.failed_job.emit(message)

    def _show_status(self, text: str, error: bool = False) -> None:
        show_status(self.status_label, text, error)

    def open_report(self) -> None:
        if self.outcome is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.outcome.pdf_path)))

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.cancel()  # the worker stops at its next image; the cache keeps what was done
        super().closeEvent(event)


def _short(value) -> str:
    if value is None:
        return "not applicable"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_short(v)}" for k, v in value.items())
    return str(value)
