"""Study browser: a thumbnail per instance, grouped by series, cine loops and stills marked."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from fetalviewer.ui.loader import THUMB_MAX_PX

_INDEX_ROLE = Qt.UserRole + 1
_UID_ROLE = Qt.UserRole + 2


def array_to_qimage(frame: np.ndarray) -> QImage:
    """A deep-copied QImage of a uint8 gray (rows, cols) or RGB (rows, cols, 3) array."""
    frame = np.ascontiguousarray(frame)
    rows, cols = frame.shape[:2]
    if frame.ndim == 2:
        img = QImage(frame.data, cols, rows, frame.strides[0], QImage.Format_Grayscale8)
    else:
        img = QImage(frame.data, cols, rows, frame.strides[0], QImage.Format_RGB888)
    return img.copy()


def instance_caption(loop) -> str:
    size = f"{loop.columns}×{loop.rows}"
    if loop.n_frames > 1:
        fps = loop.timing.fps if loop.timing is not None else None
        return f"Cine · {loop.n_frames} frames\n{size}" + (f" · {fps:.0f} fps" if fps else "")
    return f"Still\n{size}"


class StudyBrowser(QTreeWidget):
    """Lists the instances of the open study; emits the index of the instance the user picks."""

    instance_selected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setIconSize(QSize(THUMB_MAX_PX, THUMB_MAX_PX * 3 // 4))
        self.setIndentation(8)
        self.setUniformRowHeights(False)
        self.setFocusPolicy(Qt.ClickFocus)
        self._items: list[QTreeWidgetItem] = []
        self.currentItemChanged.connect(self._on_tree_current_item_changed)

    def set_instances(self, instances, thumbnails: dict | None = None) -> None:
        """Show ``instances`` (contract CineLoops); ``thumbnails`` maps SOP UID to a small array."""
        thumbnails = thumbnails or {}
        self.blockSignals(True)
        self.clear()
        self._items = []
        series: dict[str, QTreeWidgetItem] = {}
        for i, loop in enumerate(instances):
            key = loop.series_instance_uid or "?"
            parent = series.get(key)
            if parent is None:
                desc = (loop.header.series_description or "").strip() if loop.header else ""
                parent = QTreeWidgetItem(self, [f"Series {len(series) + 1}" + (f" · {desc}" if desc else "")])
                parent.setFlags(Qt.ItemIsEnabled)
                parent.setForeground(0, QColor("#35b5e5"))
                parent.setExpanded(True)
                series[key] = parent
            item = QTreeWidgetItem(parent, [instance_caption(loop)])
            item.setData(0, _INDEX_ROLE, i)
            item.setData(0, _UID_ROLE, loop.sop_instance_uid)
            item.setSizeHint(0, QSize(-1, THUMB_MAX_PX * 3 // 4 + 6))  # thumbnail height before it arrives
            item.setToolTip(0, str(loop.path))
            thumb = thumbnails.get(loop.sop_instance_uid)
            if thumb is not None:
                item.setIcon(0, QIcon(QPixmap.fromImage(array_to_qimage(thumb))))
            if loop.n_frames > 1:
                item.setForeground(0, QColor("#ffd43b"))
            self._items.append(item)
        for parent in series.values():
            parent.setText(0, f"{parent.text(0)} ({parent.childCount()})")
        self.blockSignals(False)

    def set_thumbnail(self, sop_instance_uid: str, thumbnail: np.ndarray) -> bool:
        """Show the thumbnail of one instance (delivered when its worker has decoded it)."""
        for item in self._items:
            if item.data(0, _UID_ROLE) == sop_instance_uid:
                item.setIcon(0, QIcon(QPixmap.fromImage(array_to_qimage(thumbnail))))
                return True
        return False

    def has_thumbnail(self, index: int) -> bool:
        return not self._items[index].icon(0).isNull()

    @property
    def count(self) -> int:
        return len(self._items)

    def select_instance(self, index: int) -> None:
        if 0 <= index < len(self._items):
            self.setCurrentItem(self._items[index])

    def current_instance(self) -> int | None:
        item = self.currentItem()
        value = item.data(0, _INDEX_ROLE) if item is not None else None
        return int(value) if value is not None else None

    def _on_tree_current_item_changed(self, current, _previous) -> None:
        if current is None:
            return
        value = current.data(0, _INDEX_ROLE)
        if value is not None:
            self.instance_selected.emit(int(value))
