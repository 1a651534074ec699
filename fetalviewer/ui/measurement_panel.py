"""Measurement panel: every caliper of the study with value, unit, frame and source.

Selecting a row asks the window to jump to the caliper's instance and frame; the label column
assigns a biometry label (BPD, OFD, HC, AC, FL, TCD, CRL); Delete removes the selected one.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fetalviewer.analysis.frame_numbers import frame_number
from fetalviewer.ui import theme
from fetalviewer.ui.measure_adapter import labels_for, value_lines

COLUMNS = ("Label", "Value", "Unit", "Area", "Inst.", "Frame", "Source")
_NO_LABEL = "—"


@dataclass(frozen=True)
class MeasurementRow:
    """What the panel shows of one measurement (built by the window, which knows the instances)."""

    measurement: object  # contract Measurement
    instance_number: int  # 1-based position in the study browser
    time_ms: float


class MeasurementPanel(QWidget):
    selected = Signal(str)  # measurement_id
    label_assigned = Signal(str, object)  # measurement_id, label or None
    delete_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setFocusPolicy(Qt.ClickFocus)
        self.table.itemSelectionChanged.connect(self._on_table_selection_changed)
        self.table.cellClicked.connect(lambda _r, _c: self._on_table_selection_changed())
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Remove the selected measurement (Del)")
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        self.summary = QLabel("No measurements. D: distance, E: ellipse.")
        self.summary.setStyleSheet(f"color: {theme.MUTED};")
        bar = QHBoxLayout()
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.delete_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table)
        layout.addLayout(bar)
        self._ids: list[str] = []

    # -- content ---------------------------------------------------------------------------------

    def set_rows(self, rows: list[MeasurementRow], selected_id: str | None = None) -> None:
        self.table.blockSignals(True)
        self.table.clearSelection()
        self.table.setRowCount(len(rows))
        self._ids = []
        for r, row in enumerate(rows):
            m = row.measurement
            self._ids.append(m.measurement_id)
            lines = value_lines(m)
            main = lines[0]
            area = lines[1].text() if len(lines) > 1 else ""
            unit = main.unit if main.calibrated else f"{main.unit} (uncalibrated)"
            values = ("", f"{main.value:.1f}", unit, area, str(row.instance_number),
                      f"{frame_number(m.frame_index)} · {row.time_ms:.0f} ms", m.source)
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                if c in (1, 3):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if not main.calibrated:
                    item.setForeground(QColor(theme.WARNING))
                    item.setToolTip(f"uncalibrated: {m.uncalibrated_reason}")
                elif m.calibration is not None:
                    item.setToolTip(f"calibration: {m.calibration.source}")
                self.table.setItem(r, c, item)
            self.table.setCellWidget(r, 0, self._label_combo(m))
        self.table.blockSignals(False)
        n = len(rows)
        self.summary.setText(f"{n} measurement{'s' if n != 1 else ''}" if n else
                             "No measurements. D: distance, E: ellipse.")
        self.select(selected_id)

    def _label_combo(self, m) -> QComboBox:
        combo = QComboBox()
        combo.addItem(_NO_LABEL)
        combo.addItems(labels_for(m.kind))
        combo.setCurrentText(m.label or _NO_LABEL)
        combo.setFocusPolicy(Qt.ClickFocus)
        combo.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        combo.currentTextChanged.connect(
            lambda text, mid=m.measurement_id: self.label_assigned.emit(mid, None if text == _NO_LABEL else text)
        )
        return combo

    # -- selection -------------------------------------------------------------------------------

    def select(self, measurement_id: str | None) -> None:
        self.table.blockSignals(True)
        if measurement_id in self._ids:
            self.table.selectRow(self._ids.index(measurement_id))
        else:
            self.table.clearSelection()
        self.table.blockSignals(False)

    def selected_id(self) -> str | None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        return self._ids[min(rows)] if rows else None

    def row_count(self) -> int:
        return self.table.rowCount()

    def row_values(self, row: int) -> dict[str, str]:
        """The texts of one row by column name (the label column gives the combo's text)."""
        out = {}
        for c, name in enumerate(COLUMNS):
            if c == 0:
                out[name] = self.table.cellWidget(row, 0).currentText()
            else:
                out[name] = self.table.item(row, c).text()
        return out

    def label_combo(self, row: int) -> QComboBox:
        return self.table.cellWidget(row, 0)

    def _on_table_selection_changed(self) -> None:
        mid = self.selected_id()
        if mid is not None:
            self.selected.emit(mid)

    def _on_delete_button_clicked(self) -> None:
        mid = self.selected_id()
        if mid is not None:
            self.delete_requested.emit(mid)
