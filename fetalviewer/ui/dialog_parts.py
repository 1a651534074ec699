"""Small widgets the job dialogs (batch analysis, installation validation) share."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from fetalviewer.ui.theme import ERROR


def row(*widgets: QWidget) -> QWidget:
    """``widgets`` side by side in one borderless row (one form field of several parts)."""
    box = QWidget()
    lay = QHBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        lay.addWidget(w)
    return box


def show_status(label: QLabel, text: str, error: bool = False) -> None:
    """Put ``text`` in a dialog's status line, in the error colour when ``error``."""
    label.setStyleSheet(f"color: {ERROR};" if error else "")
    label.setText(text)
