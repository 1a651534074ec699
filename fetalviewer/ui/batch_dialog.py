"""File > Batch analysis...: ``fetalviewer batch`` from the window.

The dialog builds the same :class:`~fetalviewer.batch.runner.BatchConfig` the command line builds and runs
:func:`~fetalviewer.batch.runner.run_batch` on a superqt worker thread. Progress (the command line's line:
files, frames, frames/s, ETA) comes back through a queued signal; Cancel asks the run to stop after the
current file (finished files are saved as parts, and Start on the same output folder continues from
there). When the run ends the dialog shows the run's one-line account and opens the output folder and
``summary.html``. Errors are the command line's one-line messages.
"""

from __future__ import annotations

import importlib.util
import threading
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
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fetalviewer.ui.dialog_parts import row, show_status
from fetalviewer.ui.workspace.control_panel import MODEL_CHOICES

CANCELLED_TEXT = "Cancelled. Finished files are saved in the output folder; Start continues from there."


class _Relay(QObject):
    """Carries the run's lines and progress from the worker thread to the GUI thread (queued signals)."""

    line = Signal(str)
    progress = Signal(int, int, int, int)  # files done, files total, frames done, frames total (-1: unknown)


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


def error_line(exc: BaseException) -> str:
    """The message the command line prints for ``exc`` (without its ``fetalviewer batch: error:`` prefix)."""
    if isinstance(exc, ValueError):
        return f"batch: {exc}"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


def _run(config, relay: _Relay, stop: threading.Event):
    """Worker-thread body: the batch run; returns its report, or None when Cancel stopped it."""
    from fetalviewer.batch.runner import BatchStopped, run_batch

    def say(text: str, _transient: bool = False) -> None:
        if text:
            relay.line.emit(text)

    def on_progress(p) -> None:
        total = -1 if p.total_frames is None else int(p.total_frames)
        relay.progress.emit(p.files, p.total_files, p.frames, total)

    try:
        return run_batch(config, say, stop=stop.is_set, on_progress=on_progress)
    except BatchStopped:
        return None


class BatchDialog(QDialog):
    """Sources, output folder, model, step and engine; Start/Cancel with progress; the result and links.

    ``weights``/``config`` default to the installed model (the window passes its ``--weights``)."""

    run_finished = Signal(object)  # BatchReport, or None after Cancel
    run_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None, weights: str | None = None, config: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("Batch analysis")
        self.setMinimumWidth(680)
        self._weights, self._config = weights, config
        self._worker = None
        self._stop = threading.Event()
        self.report = None
        self._relay = _Relay()
        self._relay.line.connect(self._on_line, Qt.QueuedConnection)
        self._relay.progress.connect(self._on_progress, Qt.QueuedConnection)

        intro = QLabel(
            "Analyses every frame of many studies (plane, brain sub-plane, GA) into Parquet/CSV tables, a "
            "problems list and a summary page; the same run as 'fetalviewer batch'. Starting again on the "
            "same output folder skips the files already done."
        )
        intro.setWordWrap(True)
        self.sources_list = QListWidget()
        self.sources_list.setMinimumHeight(90)
        self.sources_list.setMaximumHeight(140)
        self.add_files_button = QPushButton("Add files...")
        self.add_folder_button = QPushButton("Add folder...")
        self.remove_button = QPushButton("Remove")
        source_buttons = QVBoxLayout()
        for b in (self.add_files_button, self.add_folder_button, self.remove_button):
            source_buttons.addWidget(b)
        source_buttons.addStretch(1)
        sources = QWidget()
        sources_layout = QHBoxLayout(sources)
        sources_layout.setContentsMargins(0, 0, 0, 0)
        sources_layout.addWidget(self.sources_list, 1)
        sources_layout.addLayout(source_buttons)

        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText(
            "folder for frames-*.parquet, studies.csv, problems.csv, summary.html"
        )
        self.out_button = QPushButton("Browse...")
        self.model_combo = QComboBox()
        for choice, text in MODEL_CHOICES:
            self.model_combo.addItem(text, choice)
        self.step_spin = QSpinBox()
        self.step_spin.setRange(1, 1000)
        self.step_spin.setToolTip("Analyse every Nth frame of each cine")
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda"])
        self.engine_combo = QComboBox()
        self.engine_combo.addItem("local (in this process)", "local")
        self.engine_combo.addItem("ray (local Ray runtime)", "ray")
        self.engine_note = QLabel("")
        self.engine_note.setWordWrap(True)
        if not ray_installed():
            from fetalviewer.batch.ray_engine import NOT_INSTALLED

            self.engine_combo.model().item(1).setEnabled(False)
            self.engine_note.setText(NOT_INSTALLED)
        self.engine_note.setVisible(bool(self.engine_note.text()))
        form = QFormLayout()
        form.addRow("Sources", sources)
        form.addRow("Output folder", row(self.out_edit, self.out_button))
        form.addRow("Model", self.model_combo)
        form.addRow("Device", self.device_combo)
        form.addRow("Every Nth frame", self.step_spin)
        form.addRow("Engine", self.engine_combo)
        form.addRow("", self.engine_note)

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        self.result_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel run")
        self.cancel_button.setEnabled(False)
        self.open_folder_button = QPushButton("Open output folder")
        self.open_summary_button = QPushButton("Open summary")
        for b in (self.open_folder_button, self.open_summary_button):
            b.setEnabled(False)
        self.close_button = QPushButton("Close")
        buttons = QHBoxLayout()
        for b in (self.start_button, self.cancel_button, self.open_folder_button, self.open_summary_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addWidget(self.result_label)
        layout.addLayout(buttons)

        self.add_files_button.clicked.connect(self._browse_files)
        self.add_folder_button.clicked.connect(self._browse_folder)
        self.remove_button.clicked.connect(self._remove_selected)
        self.out_button.clicked.connect(self._browse_out)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_folder_button.clicked.connect(self.open_folder)
        self.open_summary_button.clicked.connect(self.open_summary)
        self.close_button.clicked.connect(self.close)

    # -- form --------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._worker is not None

    def sources(self) -> list[str]:
        return [self.sources_list.item(i).text() for i in range(self.sources_list.count())]

    def add_sources(self, paths) -> None:
        have = set(self.sources())
        for path in paths:
            if str(path) not in have:
                self.sources_list.addItem(str(path))
                have.add(str(path))

    def _browse_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "DICOM files or DICOMDIRs")
        self.add_sources(files)

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of DICOM files")
        if folder:
            self.add_sources([folder])

    def _remove_selected(self) -> None:
        for item in self.sources_list.selectedItems():
            self.sources_list.takeItem(self.sources_list.row(item))

    def _browse_out(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder", self.out_edit.text())
        if folder:
            self.out_edit.setText(folder)

    def config(self):
        """The run's :class:`BatchConfig`, as the command line builds it (ValueError for a bad form)."""
        from fetalviewer.batch.runner import BatchConfig
        from fetalviewer.batch.worker import ModelSpec
        from fetalviewer.settings import load_settings

        if not self.out_edit.text().strip():
            raise ValueError("choose the output folder (--out)")
        return BatchConfig(
            sources=tuple(self.sources()),
            out=self.out_edit.text().strip(),
            spec=ModelSpec(
                str(self.model_combo.currentData()),
                self._weights,
                self._config,
                self.device_combo.currentText(),
            ),
            step=int(self.step_spin.value()),
            engine=str(self.engine_combo.currentData()),
            threshold_0_1=float(load_settings()["uncertain_threshold_0_1"]),
        )

    # -- running -----------------------------------------------------------------------------------
    def start(self) -> None:
        if self.running:
            return
        try:
            config = self.config()
        except ValueError as exc:
            self._show_status(error_line(exc), error=True)
            return
        from superqt.utils import create_worker

        self.report = None
        self._stop = threading.Event()
        self._out = Path(config.out)
        self._set_busy(True)
        self.result_label.setText("")
        self._show_status("Starting...")
        self._worker = create_worker(
            _run,
            config,
            self._relay,
            self._stop,
            _connect={"returned": self._on_returned, "errored": self._on_errored},
        )

    def cancel(self) -> None:
        if self.running:
            self._stop.set()
            self._show_status("Cancelling after the current file...")

    def _set_busy(self, busy: bool) -> None:
        for w in (self.sources_list, self.add_files_button, self.add_folder_button, self.remove_button,
                  self.out_edit, self.out_button, self.model_combo, self.device_combo, self.step_spin,
                  self.engine_combo, self.start_button):  # fmt: skip
            w.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.progress.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)
            for b in (self.open_folder_button, self.open_summary_button):
                b.setEnabled(False)

    def _on_line(self, text: str) -> None:
        if self.running and not self._stop.is_set():
            self._show_status(text)

    def _on_progress(self, files: int, total_files: int, frames: int, total_frames: int) -> None:
        if not self.running:
            return
        if total_frames > 0:
            self.progress.setRange(0, total_frames)
            self.progress.setValue(min(frames, total_frames))
        elif total_files > 0:
            self.progress.setRange(0, total_files)
            self.progress.setValue(min(files, total_files))

    def _on_returned(self, report) -> None:
        self._worker = None
        self._set_busy(False)
        self.report = report
        self.open_folder_button.setEnabled(self._out.is_dir())
        self.open_summary_button.setEnabled((self._out / "summary.html").is_file())
        if report is None:
            self._show_status(CANCELLED_TEXT)
        else:
            self._show_status(report.summary_line(self._out))
            self.result_label.setText(
                f"Files analysed: {report.files} (frames: {report.frames}); already done: "
                f"{report.skipped_files}; problems: {report.problems} (see problems.csv)"
            )
            self.result_label.setStyleSheet("color: #e0a030;" if report.problems else "")
        self.run_finished.emit(report)

    def _on_errored(self, exc: Exception) -> None:
        self._worker = None
        self._set_busy(False)
        message = error_line(exc)
        self._show_status(message, error=True)
        self.run_failed.emit(message)

    def _show_status(self, text: str, error: bool = False) -> None:
        show_status(self.status_label, text, error)

    def open_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._out)))

    def open_summary(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._out / "summary.html")))

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.cancel()  # the worker stops after its current file; finished files are kept
        super().closeEvent(event)
