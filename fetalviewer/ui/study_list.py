"""The start page's study list: every study of the local database (received, retrieved, opened), sortable
by any column, filtered by a free-text box; double-click (or Enter) opens the study."""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from fetalviewer.ui import theme

COLUMNS = (
    ("Patient", "patient_name"), ("Patient ID", "patient_id"), ("Study date", "study_date"),
    ("Accession", "accession_number"), ("Description", "study_description"), ("Modalities", "modalities"),
    ("Series", "n_series"), ("Instances", "n_instances"), ("Status", "status"), ("From", "source"),
)  # fmt: skip
UID_ROLE = Qt.UserRole + 1


def format_date(text: str) -> str:
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text


class StudyListPanel(QWidget):
    open_requested = Signal(str)  # StudyInstanceUID
    refresh_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        title = QLabel("Studies")
        title.setStyleSheet(f"font-size: 18px; font-weight: bold; color: {theme.ACCENT};")
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("filter: name, ID, date, accession, status…")
        self.filter_edit.setClearButtonEnabled(True)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh_requested.emit)
        top.addWidget(title)
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.refresh_button)
        layout.addLayout(top)
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels([c[0] for c in COLUMNS])
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)  # every column
        self.proxy.setSortRole(Qt.UserRole)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.sortByColumn(2, Qt.DescendingOrder)  # newest study first
        self.table.doubleClicked.connect(self._on_table_double_clicked)
        self.table.activated.connect(self._on_table_double_clicked)
        layout.addWidget(self.table, 1)
        self.status_label = QLabel()
        self.status_label.setStyleSheet(f"color: {theme.MUTED};")
        layout.addWidget(self.status_label)

    def set_studies(self, studies, note: str = "") -> None:
        """Show ``StudyRecord`` s (newest first until the user sorts)."""
        self.model.removeRows(0, self.model.rowCount())
        for s in studies:
            row = []
            for _, key in COLUMNS:
                value = getattr(s, key)
                if key == "modalities":
                    text = ", ".join(value)
                elif key in ("study_date", "patient_birth_date"):
                    text = format_date(value)
                else:
                    text = str(value).replace("^", " ") if key == "patient_name" else str(value)
                item = QStandardItem(text)
                item.setData(value if isinstance(value, int) else text.lower(), Qt.UserRole)
                item.setData(s.study_instance_uid, UID_ROLE)
                item.setToolTip(s.study_instance_uid if key != "source" else text)
                row.append(item)
            self.model.appendRow(row)
        self.status_label.setText(note or f"{len(studies)} study(ies) in the local database; double-click to open")

    def study_uid_at(self, proxy_row: int) -> str | None:
        index = self.proxy.index(proxy_row, 0)
        return index.data(UID_ROLE) if index.isValid() else None

    def _on_table_double_clicked(self, index) -> None:
        uid = index.data(UID_ROLE)
        if uid:
            self.open_requested.emit(uid)
