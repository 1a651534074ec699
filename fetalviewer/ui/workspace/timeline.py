"""Plane timeline under the cine scrubber: one lane per plane, bar height = the model's probability.

x is the frame index (0..n-1); lane k spans [k, k+1) on y with the bar height = probability x 0.9, so a lane
reads like a small bar chart per plane. Frames not analysed yet have no bar. A click anywhere jumps to the
nearest frame (``frame_clicked``); a vertical line marks the current frame.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QSizePolicy

from fetalviewer.ui.workspace.colors import display_name, plane_color

LANE_HEIGHT_PX = 13


class PlaneTimeline(pg.PlotWidget):
    """Per-plane probability lanes for the frames of the current instance."""

    frame_clicked = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent=parent, background="#17181a")
        self.setObjectName("planeTimeline")
        self._plane_keys: tuple[str, ...] = ()
        self._n_frames = 0
        self._bars: list[pg.BarGraphItem] = []
        self.plot_item = self.getPlotItem()
        self.plot_item.setMenuEnabled(False)
        self.plot_item.hideButtons()
        self.plot_item.setMouseEnabled(x=False, y=False)
        self.plot_item.showGrid(x=False, y=False)
        self.plot_item.getAxis("bottom").setHeight(16)
        self.plot_item.getAxis("left").setWidth(110)
        self.cursor = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#ffffff", width=1))
        self.plot_item.addItem(self.cursor)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setCursor(Qt.PointingHandCursor)
        self.scene().sigMouseClicked.connect(self._on_scene_mouse_clicked)
        self.set_planes(())

    # ---------------------------------------------------------------------------------- data
    def set_planes(self, plane_keys: tuple[str, ...]) -> None:
        self._plane_keys = tuple(plane_keys)
        ticks = [(k + 0.45, display_name(key)) for k, key in enumerate(self._plane_keys)]
        self.plot_item.getAxis("left").setTicks([ticks])
        self.setFixedHeight(max(40, LANE_HEIGHT_PX * len(self._plane_keys) + 26))
        self.plot_item.setYRange(0, max(1, len(self._plane_keys)), padding=0.02)

    def clear_data(self, n_frames: int = 0) -> None:
        for bar in self._bars:
            self.plot_item.removeItem(bar)
        self._bars = []
        self._n_frames = int(n_frames)
        self.plot_item.setXRange(-0.5, max(1, n_frames) - 0.5, padding=0.01)

    def set_probabilities(
        self, plane_probs: np.ndarray, done: np.ndarray, plane_keys: tuple[str, ...]
    ) -> None:
        """Show (frames x planes) probabilities for the frames marked ``done``."""
        if tuple(plane_keys) != self._plane_keys:
            self.set_planes(tuple(plane_keys))
        self.clear_data(plane_probs.shape[0])
        idx = np.flatnonzero(done)
        if idx.size == 0:
            return
        width = 0.9 if idx.size == plane_probs.shape[0] else 0.9 * max(1.0, self._typical_gap(idx))
        for k, key in enumerate(self._plane_keys):
            heights = plane_probs[idx, k] * 0.9
            color = plane_color(key)
            bar = pg.BarGraphItem(
                x=idx.astype(float), height=heights, width=width, y0=float(k), brush=color, pen=pg.mkPen(None)
            )
            self.plot_item.addItem(bar)
            self._bars.append(bar)

    @staticmethod
    def _typical_gap(idx: np.ndarray) -> float:
        """While only sampled frames are known, each bar covers its neighbourhood (the coarse pass)."""
        if idx.size < 2:
            return 1.0
        return float(np.median(np.diff(idx)))

    def set_current_frame(self, frame_index: int) -> None:
        self.cursor.setPos(frame_index)

    def bar_heights(self, plane_key: str) -> tuple[np.ndarray, np.ndarray]:
        """(frame indices, probabilities) currently drawn in ``plane_key``'s lane (for tests and export)."""
        k = self._plane_keys.index(plane_key)
        if not self._bars:
            return np.array([], dtype=int), np.array([])
        opts = self._bars[k].opts
        return np.asarray(opts["x"]).astype(int), np.asarray(opts["height"]) / 0.9

    # ------------------------------------------------------------------------------- clicks
    def frame_at_scene_pos(self, scene_pos) -> int | None:
        if self._n_frames < 1:
            return None
        x = self.plot_item.vb.mapSceneToView(scene_pos).x()
        return int(min(self._n_frames - 1, max(0, round(x))))

    def _on_scene_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        frame = self.frame_at_scene_pos(event.scenePos())
        if frame is not None:
            self.frame_clicked.emit(frame)
