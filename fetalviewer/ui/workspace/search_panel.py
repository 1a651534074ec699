"""Free-text search box with ranked hits (cosine similarity); clicking a hit jumps to its frame."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fetalviewer.analysis.frame_numbers import frame_label
from fetalviewer.workspace.search import SearchHit

_HIT_ROLE = Qt.UserRole + 1


class SearchPanel(QWidget):
    search_requested = Signal(str)
    jump_requested = Signal(str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("Search frames, e.g. “four chamber view”, “stomach bubble”")
        self.edit.setClearButtonEnabled(True)
        self.button = QPushButton("Search")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.hits = QListWidget()
        self.hits.setObjectName("searchHits")
        row = QHBoxLayout()
        row.addWidget(self.edit, 1)
        row.addWidget(self.button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.hits)
        self.edit.returnPressed.connect(self._on_edit_return_pressed)
        self.button.clicked.connect(self._on_edit_return_pressed)
        self.hits.itemClicked.connect(self._on_hits_item_clicked)
        self.hits.itemActivated.connect(self._on_hits_item_clicked)

    def set_enabled_reason(self, reason: str | None) -> None:
        """Disable with a reason (no weights, nothing analysed), or enable with None."""
        self.edit.setEnabled(reason is None)
        self.button.setEnabled(reason is None)
        if reason is not None:
            self.status.setText(reason)

    def show_hits(
        self, query: str, hits: list[SearchHit], instance_names: dict[str, str], n_frames: int,
        model_label: str = "FetalCLIP zero-shot",
    ) -> None:  # fmt: skip
        self.hits.clear()
        self.status.setText(
            f"{len(hits)} best of {n_frames} analysed frames for “{query}” (cosine image–text similarity, "
            f"{model_label} output)"
        )
        for hit in hits:
            where = instance_names.get(hit.sop_instance_uid, hit.sop_instance_uid[-12:])
            item = QListWidgetItem(
                f"{hit.rank}. {hit.score_cos:+.3f}   {where} · {frame_label(hit.frame_index)}"
            )
            item.setData(_HIT_ROLE, (hit.sop_instance_uid, hit.frame_index))
            self.hits.addItem(item)

    def _on_edit_return_pressed(self) -> None:
        text = self.edit.text().strip()
        if text:
            self.status.setText(f"Searching “{text}”…")
            self.search_requested.emit(text)

    def _on_hits_item_clicked(self, item: QListWidgetItem) -> None:
        target = item.data(_HIT_ROLE)
        if target:
            self.jump_requested.emit(str(target[0]), int(target[1]))
