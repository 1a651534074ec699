"""The plane badge on the image: the model's plane with probability, brain sub-plane, GA (model output)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from fetalviewer.ui.workspace.colors import MODEL_OUTPUT_COLOR, plane_color
from fetalviewer.workspace.badge_text import BadgeText


class PlaneBadge(QLabel):
    """A translucent box at the bottom centre of the canvas; hidden when there is nothing to say."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("planeBadge")
        self.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.setTextFormat(Qt.RichText)
        self.setAlignment(Qt.AlignHCenter | Qt.AlignVCenter)
        self._content: BadgeText | None = None
        self.hide()

    @property
    def content(self) -> BadgeText | None:
        return self._content

    def plain_text(self) -> str:
        return self._content.plain() if self._content else ""

    def show_text(self, content: BadgeText | None, plane_key: str | None = None) -> None:
        self._content = content
        if content is None:
            self.hide()
            return
        border = "#ffa94d" if content.uncertain else plane_color(plane_key or "")
        title_color = "#ffa94d" if content.uncertain else "#ffffff"
        opacity = 150 if content.approximate else 200
        rows = [
            f"<tr><td align='center' style='color:{title_color}; font-size:13pt; font-weight:bold'>"
            f"{content.title}</td></tr>"
        ]
        for line in content.lines:
            small = line.startswith(("AI ·", "("))
            color = MODEL_OUTPUT_COLOR if line.startswith("AI ·") else "#e6e6e6"
            rows.append(
                f"<tr><td align='center' style='color:{color}; font-size:{9 if small else 11}pt'>{line}</td></tr>"
            )
        self.setStyleSheet(
            f"QLabel#planeBadge {{ background: rgba(20, 20, 24, {opacity}); border: 2px solid {border};"
            " border-radius: 5px; padding: 3px 8px; }"
        )
        self.setText("<table cellspacing='0' cellpadding='1'>" + "".join(rows) + "</table>")
        self.adjustSize()
        self.place()
        self.show()
        self.raise_()

    def place(self) -> None:
        """Bottom centre of the canvas, between the corner overlays (the top holds the scanner's banner)."""
        parent = self.parentWidget()
        if parent is None:
            return
        self.move(max(0, (parent.width() - self.width()) // 2), max(0, parent.height() - self.height() - 8))
