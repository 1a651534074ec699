"""Findings panel: per plane, the best frame of the exam (thumbnail, probability, jump) and the checklist."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPixmap
from PySide6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from fetalviewer.analysis.frame_numbers import frame_label
from fetalviewer.ui.workspace.colors import display_name, plane_color
from fetalviewer.workspace.findings import BestFrame, ChecklistItem

_JUMP_ROLE = Qt.UserRole + 1
THUMB_PX = 56


class FindingsPanel(QWidget):
    """Checklist of standard planes; each found plane shows its best frame and jumps to it on click."""

    jump_requested = Signal(str, int)  # sop instance uid, frame index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("No analysis yet.")
        self.summary.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setObjectName("findingsTree")
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(False)
        self.tree.setIconSize(QSize(THUMB_PX, THUMB_PX * 3 // 4))
        self.tree.itemClicked.connect(self._on_tree_item_clicked)
        self.tree.itemActivated.connect(self._on_tree_item_clicked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree)
        self._items: dict[str, QTreeWidgetItem] = {}

    def set_findings(
        self,
        checklist: list[ChecklistItem],
        threshold_0_1: float,
        instance_names: dict[str, str],
        thumbnail: Callable[[BestFrame], np.ndarray | None],
        model_label: str = "FetalCLIP zero-shot",
    ) -> None:
        """Show the checklist; ``thumbnail`` gives a small uint8 frame for a best frame (or None);
        ``model_label`` names the model whose probabilities these are."""
        from fetalviewer.ui.study_browser import array_to_qimage

        self.tree.clear()
        self._items = {}
        required = [c for c in checklist if c.required]
        found = sum(c.found for c in required)
        missing = [display_name(c.plane_key) for c in required if not c.found]
        text = f"Standard planes found: {found} of {len(required)} ({model_label} probability ≥ {threshold_0_1:.0%})."
        if missing:
            text += " Missing: " + ", ".join(missing) + "."
        self.summary.setText(text)
        for item in checklist:
            best = item.best
            mark = "✓" if item.found else ("✗" if item.required else "–")
            lines = [f"{mark}  {display_name(item.plane_key)}" + ("" if item.required else " (optional)")]
            if best is not None:
                where = instance_names.get(best.sop_instance_uid, best.sop_instance_uid[-12:])
                lines.append(f"best {best.prob_0_1:.0%} · {where} · {frame_label(best.frame_index)}")
            else:
                lines.append("not analysed")
            tree_item = QTreeWidgetItem(self.tree, ["\n".join(lines)])
            color = "#51cf66" if item.found else ("#ff8787" if item.required else "#9aa0a6")
            tree_item.setForeground(0, QBrush(QColor(color)))
            if best is not None and item.found:
                tree_item.setData(0, _JUMP_ROLE, (best.sop_instance_uid, best.frame_index))
                tree_item.setToolTip(0, "Click to show this frame")
                thumb = thumbnail(best)
                if thumb is not None:
                    tree_item.setIcon(0, QIcon(QPixmap.fromImage(array_to_qimage(thumb))))
            else:
                pix = QPixmap(THUMB_PX, THUMB_PX * 3 // 4)
                pix.fill(QColor(plane_color(item.plane_key)).darker(400))
                tree_item.setIcon(0, QIcon(pix))
                if best is not None:
                    tree_item.setData(0, _JUMP_ROLE, (best.sop_instance_uid, best.frame_index))
                    tree_item.setToolTip(0, "Below the threshold; click to show the most likely frame")
            self._items[item.plane_key] = tree_item

    def item_for(self, plane_key: str) -> QTreeWidgetItem | None:
        return self._items.get(plane_key)

    def _on_tree_item_clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        target = item.data(0, _JUMP_ROLE)
        if target:
            self.jump_requested.emit(str(target[0]), int(target[1]))
