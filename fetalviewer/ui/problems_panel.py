"""Problems panel: files that could not be opened and frames that could not be decoded (non-modal)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from fetalviewer.ui import theme


class ProblemsPanel(QListWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setFocusPolicy(Qt.ClickFocus)
        self._seen: set[tuple[str, str]] = set()

    def clear_problems(self) -> None:
        self.clear()
        self._seen.clear()

    def add_problem(self, path: str, message: str) -> bool:
        """List one problem (once); returns False when it was already listed."""
        key = (str(path), str(message))
        if key in self._seen:
            return False
        self._seen.add(key)
        name = Path(path).name if path else ""
        text = f"{name}: {message}" if name and name not in message else message
        item = QListWidgetItem(text)
        item.setToolTip(f"{path}\n{message}")
        item.setForeground(QColor(theme.WARNING))
        self.addItem(item)
        return True

    def messages(self) -> list[str]:
        return [self.item(i).text() for i in range(self.count())]
