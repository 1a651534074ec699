"""File > Export…: one dialog for every export of the exam (the window's face of ``fetalviewer report``).

The user picks the output folder, the formats (PDF report, DICOM SR, secondary captures, annotated MP4
of the cines, PNG of the frame on screen and the key frames, CSV, JSON, de-identified copies of the
original instances), de-identification (dates removed or shifted) and writes the impression and the
sign-off, which are stored in the exam record. :meth:`ExportDialog.export` (the Export button) hands
the options to the :class:`~fetalviewer.ui.export_controller.ExportController`; the dialog shows its
progress, lets the user cancel, and lists the written files or says which file failed and why (nothing
is left half-written). The equivalent command line is shown under the options.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from fetalviewer import settings
from fetalviewer.analysis.frame_numbers import frame_label

#: (format key of ``ExportOptions``, check box text, on by default)
FORMAT_CHOICES = (
    ("pdf", "PDF report", True),
    ("sr", "DICOM Structured Report (OB-GYN, TID 5000)", True),
    ("sc", "Secondary Capture images of the key frames", True),
    ("mp4", "Annotated MP4 of each cine (original timing)", True),
    ("png", "PNG with overlays: the frame on screen and the key frames", True),
    ("csv", "CSV tables (measurements, model outputs)", True),
    ("json", "JSON (everything in the report)", True),
    ("dicom", "Original instances (de-identified copies)", False),
)
LAST_FOLDER_SETTING = "export_folder"


class ExportDialog(QDialog):
    exported = Signal(object)  # ExportResult, after the list of files is shown

    def __init__(self, window, controller) -> None:
        super().__init__(window)
        self.window = window
        self.controller = controller
        self.setWindowTitle("Export exam")
        self.setModal(False)
        self.resize(760, 840)
        layout = QVBoxLayout(self)

        folder_row = QHBoxLayout()
        self.folder_edit = QLineEdit(str(settings.load_settings().get(LAST_FOLDER_SETTING, "") or ""))
        self.folder_edit.setPlaceholderText("folder for the exported files")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse_clicked)
        folder_row.addWidget(QLabel("Output folder:"))
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        layout.addLayout(folder_row)
        self.study_label = QLabel()
        self.study_label.setWordWrap(True)
        layout.addWidget(self.study_label)

        formats = QGroupBox("Formats")
        grid = QGridLayout(formats)
        self.format_boxes: dict[str, QCheckBox] = {}
        for i, (key, text, on) in enumerate(FORMAT_CHOICES):
            box = QCheckBox(text)
            box.setChecked(on)
            box.toggled.connect(self._update_state)
            self.format_boxes[key] = box
            grid.addWidget(box, i // 2, i % 2)
        layout.addWidget(formats)

        deid = QGroupBox("De-identification (PS3.15 basic profile, burned-in text blacked out)")
        dl = QVBoxLayout(deid)
        self.deid_box = QCheckBox("De-identify every exported file")
        self.deid_box.toggled.connect(self._update_state)
        dl.addWidget(self.deid_box)
        dates = QHBoxLayout()
        self.remove_dates = QRadioButton("Remove dates")
        self.shift_dates = QRadioButton("Shift dates by")
        self.remove_dates.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.remove_dates)
        group.addButton(self.shift_dates)
        self.shift_days = QSpinBox()
        self.shift_days.setRange(-36500, 36500)
        self.shift_days.setValue(-100)
        self.shift_days.setSuffix(" days")
        for w in (self.remove_dates, self.shift_dates, self.shift_days):
            dates.addWidget(w)
            if isinstance(w, QRadioButton):
                w.toggled.connect(self._update_state)
        dates.addStretch(1)
        dl.addLayout(dates)
        layout.addWidget(deid)

        exam = QGroupBox("Impression and sign-off (stored in the exam record)")
        form = QFormLayout(exam)
        self.impression_edit = QPlainTextEdit()
        self.impression_edit.setPlaceholderText("free-text impression")
        self.impression_edit.setFixedHeight(80)
        self.signer_edit = QLineEdit()
        self.signer_edit.setPlaceholderText("name of the person signing (leave empty: not signed)")
        form.addRow("Impression:", self.impression_edit)
        form.addRow("Signed by:", self.signer_edit)
        self.sign_state = QLabel()
        form.addRow("", self.sign_state)
        layout.addWidget(exam)

        self.command_label = QLabel()
        self.command_label.setWordWrap(True)
        self.command_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.command_label.setStyleSheet("font-family: monospace; font-size: 11px;")
        layout.addWidget(self.command_label)

        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        layout.addWidget(self.progress)
        self.result_view = QPlainTextEdit()
        self.result_view.setReadOnly(True)
        self.result_view.setPlaceholderText("The written files are listed here.")
        layout.addWidget(self.result_view, 1)
        from fetalviewer.ui.send_status import SendToPacsBox  # C-STORE / STOW-RS of the exported files

        self.send_box = SendToPacsBox(lambda: controller.last_result.files if controller.last_result else [])
        layout.addWidget(self.send_box)
        self.resize(760, 960)

        buttons = QWidget()
        bl = QHBoxLayout(buttons)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addStretch(1)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.export)
        self.cancel_button = QPushButton("Cancel export")
        self.cancel_button.clicked.connect(controller.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        for b in (self.export_button, self.cancel_button, self.close_button):
            bl.addWidget(b)
        layout.addWidget(buttons)

        self.shift_days.valueChanged.connect(self._update_state)
        self.folder_edit.textChanged.connect(self._update_state)
        self.impression_edit.textChanged.connect(self._update_state)
        self.signer_edit.textChanged.connect(self._update_state)
        controller.progress.connect(self._on_controller_progress)
        controller.finished.connect(self._on_controller_finished)
        controller.failed.connect(self._on_controller_failed)
        controller.busy_changed.connect(self._update_state)
        self._steps: list[str] = []
        self.refresh_from_window()

    # -- state -------------------------------------------------------------------------------------
    def refresh_from_window(self) -> None:
        """Show the study on screen and its exam record's impression and sign-off."""
        from fetalviewer.ui.export_controller import current_study, study_record

        uid, instances = current_study(self.window)
        if uid is None and self.window.instances:
            self.study_label.setText(
                "The image on screen has no Study Instance UID (missing or damaged), so it cannot be exported."
            )
        elif uid is None:
            self.study_label.setText("No study is open: open one to export it.")
        else:
            frames = sum(int(i.n_frames) for i in instances)
            ms = [m for m in study_record(self.window, uid).measurements
                  if m.sop_instance_uid in {i.sop_instance_uid for i in instances}]  # fmt: skip
            analysed = sum(1 for i in instances if i.sop_instance_uid in self.window.workspace.results)
            self.study_label.setText(
                f"Study on screen: {len(instances)} image(s), {frames} frame(s), {len(ms)} measurement(s); "
                f"AI review results for {analysed} image(s)."
            )
            record = study_record(self.window, uid)
            self.impression_edit.setPlainText(record.impression)
            self.signer_edit.setText(record.sign_off.signed_by if record.sign_off else "")
        self._update_state()

    def options(self):
        """The :class:`~fetalviewer.report.export.ExportOptions` the widgets describe (ValueError if none)."""
        from fetalviewer.report.export import FORMATS, ExportOptions

        deid = self.deid_box.isChecked()
        formats = tuple(f for f in FORMATS if self.format_boxes[f].isChecked() and (deid or f != "dicom"))
        if not formats:
            raise ValueError("choose at least one format")
        frames: tuple[int, ...] = ()
        if "png" in formats and self.window.shown_index is not None:
            frames = (int(self.window.shown_index),)
        shift = int(self.shift_days.value()) if deid and self.shift_dates.isChecked() else None
        return ExportOptions(formats, deid, shift, frames)

    def command_line(self) -> str:
        """The ``fetalviewer report`` call that makes the same export."""
        from fetalviewer.ui.export_controller import current_study

        _uid, instances = current_study(self.window)
        try:
            opts = self.options()
        except ValueError as exc:
            return f"({exc})"
        paths = sorted({str(i.path) for i in instances}) or ["PATH"]
        out = self.folder_edit.text().strip() or "DIR"
        parts = ["fetalviewer", "report", *paths, "--out", out, "--formats", ",".join(opts.formats)]
        if opts.deidentify:
            parts.append("--deidentify")
        if opts.date_shift_days is not None:
            parts += ["--shift-dates-days", str(opts.date_shift_days)]
        if opts.png_frames:
            parts += ["--png-frames", ",".join(map(str, opts.png_frames))]
        if self.impression_edit.toPlainText().strip():
            parts += ["--impression", self.impression_edit.toPlainText()]
        if self.signer_edit.text().strip():
            parts += ["--sign-off", self.signer_edit.text().strip()]
        return " ".join(shlex.quote(p) for p in parts)

    def _update_state(self, *_args) -> None:
        busy = self.controller.busy
        deid = self.deid_box.isChecked()
        self.format_boxes["dicom"].setEnabled(deid and not busy)
        self.format_boxes["dicom"].setToolTip("" if deid else "Copies of the original instances are offered "
                                              "de-identified only (tick De-identify)")  # fmt: skip
        for w in (self.remove_dates, self.shift_dates):
            w.setEnabled(deid and not busy)
        self.shift_days.setEnabled(deid and self.shift_dates.isChecked() and not busy)
        has_study = bool(self.window.instances)
        self.export_button.setEnabled(has_study and not busy and bool(self.folder_edit.text().strip()))
        self.cancel_button.setEnabled(busy)
        if not busy:
            self.progress.setRange(0, 1)
        signer = self.signer_edit.text().strip()
        self.sign_state.setText(
            f"Export signs the exam record as {signer!r} (any later change clears the signature)."
            if signer
            else "Not signed: the report says so."
        )
        shown = self.window.shown_index
        self.format_boxes["png"].setText(
            "PNG with overlays: the key frames"
            + (f", and {frame_label(shown)} (on screen) of every image" if shown is not None else "")
        )
        self.command_label.setText("Same export from the command line:\n" + self.command_line())

    # -- actions -----------------------------------------------------------------------------------
    def _on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    def store_impression_and_sign_off(self) -> None:
        """Write the impression and the signature into the study's exam record (saved at once)."""
        from fetalviewer.exam.record import save_exam_record
        from fetalviewer.ui.export_controller import current_study, study_record

        uid, _ = current_study(self.window)
        if uid is None:
            return
        record = study_record(self.window, uid)
        record.set_impression(self.impression_edit.toPlainText().strip())
        signer = self.signer_edit.text().strip()
        if signer:
            record.sign(signer)
        elif record.sign_off is not None:
            record.sign_off = None  # the name was removed: the record is no longer signed
        save_exam_record(record)

    def export(self) -> int:
        """The Export button: validate, store impression/sign-off, start the export; returns its id."""
        folder = self.folder_edit.text().strip()
        if not folder:
            self._show_error("choose an output folder")
            return 0
        try:
            options = self.options()
            self.store_impression_and_sign_off()
        except (ValueError, OSError) as exc:
            self._show_error(str(exc))
            return 0
        self._steps = list(options.formats)
        self.progress.setRange(0, len(self._steps) + 1)
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.result_view.setStyleSheet("")
        self.result_view.setPlainText(f"Exporting into {folder}…")
        request_id = self.controller.start(Path(folder).expanduser(), options)
        if request_id:
            try:
                settings.update_settings(**{LAST_FOLDER_SETTING: folder})
            except OSError:
                pass
        return request_id

    def _show_error(self, text: str) -> None:
        self.result_view.setPlainText(f"Export failed: {text}")
        self.result_view.setStyleSheet("color: #d9534f;")

    def _on_controller_progress(self, text: str) -> None:
        done = next((i + 1 for i, f in enumerate(self._steps) if text == f"writing {f}"), None)
        if done is not None:
            self.progress.setValue(done)
        self.progress.setFormat(text)
        self.result_view.appendPlainText(text)

    def _on_controller_finished(self, result) -> None:
        self.progress.setValue(self.progress.maximum())
        self.progress.setFormat(f"done: {len(result.files)} file(s)")
        lines = [f"Wrote {len(result.files)} file(s); every file was read back and checked:"]
        lines += [f"  {p}" for p in result.files]
        lines += [f"note: {n}" for n in result.notes]
        self.result_view.setStyleSheet("")
        self.result_view.setPlainText("\n".join(lines))
        self.refresh_from_window()
        self.exported.emit(result)

    def _on_controller_failed(self, text: str) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("failed")
        self._show_error(text)
