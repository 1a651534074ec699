"""Welcome panel shown when nothing is open: offers the bundled sample study and the open actions."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget

from fetalviewer.ui import theme


class WelcomePanel(QWidget):
    sample_requested = Signal()
    open_files_requested = Signal()
    open_folder_requested = Signal()
    open_dicomdir_requested = Signal()
    recent_requested = Signal(str)

    def __init__(self, sample_available: bool, sample_reason: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setAlignment(Qt.AlignCenter)
        title = QLabel("FetalViewer")
        title.setStyleSheet(f"font-size: 28px; font-weight: bold; color: {theme.ACCENT};")
        subtitle = QLabel("Offline review of fetal ultrasound DICOM with FetalCLIP decision support")
        subtitle.setStyleSheet(f"color: {theme.MUTED};")
        self.sample_button = QPushButton("Open the bundled sample study")
        self.sample_button.setObjectName("primary")
        self.sample_button.setEnabled(sample_available)
        if not sample_available:
            self.sample_button.setToolTip(sample_reason)
        self.sample_button.clicked.connect(self.sample_requested.emit)
        files = QPushButton("Open DICOM files…  (Ctrl+O)")
        files.clicked.connect(self.open_files_requested.emit)
        folder = QPushButton("Open a folder…  (Ctrl+Shift+O)")
        folder.clicked.connect(self.open_folder_requested.emit)
        dicomdir = QPushButton("Open a DICOMDIR (CD / USB export)…  (Ctrl+Shift+D)")
        dicomdir.clicked.connect(self.open_dicomdir_requested.emit)
        hint = QLabel("…or drop files and folders onto this window. Press F1 for the shortcuts.")
        hint.setStyleSheet(f"color: {theme.MUTED};")
        self.recent = QListWidget()
        self.recent.setMaximumHeight(140)
        self.recent.itemActivated.connect(lambda item: self.recent_requested.emit(item.text()))
        self.recent_title = QLabel("Recent")
        for w in (title, subtitle):
            layout.addWidget(w, 0, Qt.AlignHCenter)
        layout.addSpacing(18)
        for w in (self.sample_button, files, folder, dicomdir):
            w.setMinimumWidth(340)
            layout.addWidget(w, 0, Qt.AlignHCenter)
        if not sample_available:
            missing = QLabel(sample_reason)
            missing.setStyleSheet(f"color: {theme.WARNING};")
            layout.addWidget(missing, 0, Qt.AlignHCenter)
        layout.addWidget(hint, 0, Qt.AlignHCenter)
        layout.addSpacing(12)
        layout.addWidget(self.recent_title, 0, Qt.AlignHCenter)
        layout.addWidget(self.recent, 0, Qt.AlignHCenter)
        self.recent.setMinimumWidth(480)

    def set_recent(self, paths: list[str]) -> None:
        self.recent.clear()
        self.recent.addItems(paths)
        self.recent.setVisible(bool(paths))
        self.recent_title.setVisible(bool(paths))
