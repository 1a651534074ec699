"""Numeric window/level for grayscale frames (the right-drag gesture's exact counterpart)."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QWidget


class WindowLevelDialog(QDialog):
    """Asks for window width and level (centre) in grey levels of the displayed 8-bit frame."""

    def __init__(self, center: float, width: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Window / level")
        self.width_spin = QDoubleSpinBox()
        self.width_spin.setRange(1.0, 512.0)
        self.width_spin.setDecimals(0)
        self.width_spin.setValue(width)
        self.level_spin = QDoubleSpinBox()
        self.level_spin.setRange(-128.0, 383.0)
        self.level_spin.setDecimals(0)
        self.level_spin.setValue(center)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Window (width)", self.width_spin)
        form.addRow("Level (centre)", self.level_spin)
        form.addRow(buttons)

    def values(self) -> tuple[float, float]:
        """(centre, width) as entered."""
        return self.level_spin.value(), self.width_spin.value()
