""""Send to PACS" for the export dialog: choose a node, send the exported DICOM files and the PDF (as
Encapsulated PDF), and see one status row per file; a refused file is shown in red, never dropped."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from fetalviewer.net.nodes import NodeStore, local_ae_from_settings
from fetalviewer.ui.net_task import NetTask


class SendToPacsBox(QGroupBox):
    """Node choice, a Send button and the per-file status table. ``files_provider()`` gives the files."""

    sent = Signal(object)  # list[SendStatus]

    def __init__(self, files_provider, parent=None) -> None:
        super().__init__("Send to PACS", parent)
        self.files_provider = files_provider
        self._task: NetTask | None = None
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.node_combo = QComboBox()
        self.node_combo.setPlaceholderText("no node yet: Network > DICOM nodes…")
        self.send_button = QPushButton("Send to PACS")
        self.send_button.clicked.connect(self.send)
        self.cancel_button = QPushButton("Stop")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(lambda: self._task and self._task.cancel())
        row.addWidget(QLabel("Node:"))
        row.addWidget(self.node_combo, 1)
        row.addWidget(self.send_button)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["File", "Status"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        self.table.setFixedHeight(120)  # a few rows; it scrolls for more
        layout.addWidget(self.table)
        self.summary = QLabel("Export first; the SR, captures, de-identified copies and the PDF are sent.")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.reload_nodes()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override): nodes may have been added meanwhile
        self.reload_nodes()
        super().showEvent(event)

    def reload_nodes(self) -> None:
        current = self.node_combo.currentText()
        self.node_combo.clear()
        try:
            self.node_combo.addItems(sorted(NodeStore().load()))
        except ValueError as exc:
            self.summary.setText(str(exc))
        if current:
            self.node_combo.setCurrentText(current)

    def send(self) -> None:
        from fetalviewer.net.send import send_files
        from fetalviewer.report.encapsulated_pdf import dicom_outbox

        files = list(self.files_provider() or [])
        name = self.node_combo.currentText()
        if not files or not name:
            self.summary.setText("nothing to send: export first" if not files else "configure a node first "
                                 "(Network > DICOM nodes…)")  # fmt: skip
            return
        try:
            node, local = NodeStore().get(name), local_ae_from_settings()
        except (KeyError, ValueError) as exc:
            self.summary.setText(str(exc.args[0] if exc.args else exc))
            return
        self.table.setRowCount(0)
        self.send_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.summary.setText(f"sending to {node.describe()}…")

        def job(progress, cancel):
            outbox = dicom_outbox(files)
            return send_files(node, local, outbox, progress=progress, cancel=cancel)

        self._task = NetTask(job, self)
        self._task.progress.connect(self.add_status)
        self._task.done.connect(self._on_sent)
        self._task.failed.connect(self._on_failed)
        self._task.start()

    def add_status(self, status) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        name = QTableWidgetItem(Path(status.path).name)
        name.setToolTip(status.path)
        detail = QTableWidgetItem(("✓ " if status.ok else "✗ ") + status.detail)
        detail.setForeground(QColor("#5cb85c" if status.ok else "#d9534f"))
        self.table.setItem(row, 0, name)
        self.table.setItem(row, 1, detail)

    def _on_sent(self, statuses) -> None:
        self.send_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        ok = sum(1 for s in statuses if s.ok)
        self.summary.setText(f"{ok} of {len(statuses)} file(s) stored on {self.node_combo.currentText()}")
        self.summary.setStyleSheet("" if ok == len(statuses) else "color: #d9534f;")
        if statuses and ok == len(statuses):
            from fetalviewer.studydb import mark_status

            mark_status([s.study_instance_uid for s in statuses if s.study_instance_uid], "sent")
        self.sent.emit(statuses)

    def _on_failed(self, text: str) -> None:
        self.send_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.summary.setStyleSheet("color: #d9534f;")
        self.summary.setText(f"nothing sent: {text}")
