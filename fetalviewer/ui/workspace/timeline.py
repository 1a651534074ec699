"""Plane timeline under the cine scrubber: one lane per plane, bar height = the model's probability.

x is the frame index (0..n-1); lane k (top to bottom in the model's class order) spans one unit of y, and in
each frame's column a bar in the plane's colour rises from the lane's bottom to probability x 0.9 of the lane.
While only the coarse first pass is known, columns between analysed frames repeat the nearest analysed
frame's bars, dimmed, so the whole timeline reads at once; analysed columns are drawn at full strength.

The lanes are ONE RGBA image (lanes x LANE_PX rows, one column per frame) built with numpy, so a redraw
costs well under a millisecond for a long cine. A click anywhere jumps to that frame (``frame_clicked``); a
vertical line marks the current frame.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QSizePolicy

from fetalviewer.ui.workspace.colors import display_name, plane_color

LANE_HEIGHT_PX = 14
LANE_PX = 16  # image rows per lane
BAR_FRACTION = 0.9
DIM_ALPHA = 90


class PlaneTimeline(pg.PlotWidget):
    """Per-plane probability lanes for the frames of the current instance."""

    frame_clicked = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent=parent, background="#17181a")
        self.setObjectName("planeTimeline")
        self._plane_keys: tuple[str, ...] = ()
        self._n_frames = 0
        self._probs: np.ndarray | None = None
        self._done: np.ndarray | None = None
        self.plot_item = self.getPlotItem()
        self.plot_item.setMenuEnabled(False)
        self.plot_item.hideButtons()
        self.plot_item.setMouseEnabled(x=False, y=False)
        self.plot_item.getAxis("bottom").setHeight(16)
        self.plot_item.getAxis("left").setWidth(135)
        self.plot_item.getAxis("left").setStyle(hideOverlappingLabels=False)
        self.plot_item.vb.invertY(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot_item.addItem(self.image)
        self.cursor = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#ffffff", width=1))
        self.plot_item.addItem(self.cursor)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.setCursor(Qt.PointingHandCursor)
        self.scene().sigMouseClicked.connect(self._on_scene_mouse_clicked)
        self.set_planes(())

    # ---------------------------------------------------------------------------------- data
    def set_planes(self, plane_keys: tuple[str, ...]) -> None:
        self._plane_keys = tuple(plane_keys)
        ticks = [(k + 0.5, display_name(key)) for k, key in enumerate(self._plane_keys)]
        self.plot_item.getAxis("left").setTicks([ticks])
        self.setFixedHeight(max(40, LANE_HEIGHT_PX * len(self._plane_keys) + 26))
        self.plot_item.setYRange(-0.35, max(1, len(self._plane_keys)) + 0.05, padding=0)
        self._colors = np.array(
            [QColor(plane_color(k)).getRgb()[:3] for k in self._plane_keys], dtype=np.uint8
        ).reshape(-1, 3)

    def clear_data(self, n_frames: int = 0) -> None:
        self._n_frames = int(n_frames)
        self._probs = None
        self._done = None
        self.image.clear()
        self.plot_item.setXRange(-0.5, max(1, n_frames) - 0.5, padding=0.01)
        major = max(1, int(round(max(1, n_frames) / 10 / 5.0)) * 5) if n_frames > 10 else 1
        self.plot_item.getAxis("bottom").setTickSpacing(major=major, minor=major)

    def set_probabilities(
        self, plane_probs: np.ndarray, done: np.ndarray, plane_keys: tuple[str, ...]
    ) -> None:
        """Show (frames x planes) probabilities; frames not ``done`` show their nearest analysed frame, dimmed."""
        if tuple(plane_keys) != self._plane_keys:
            self.set_planes(tuple(plane_keys))
        n = int(plane_probs.shape[0])
        if n != self._n_frames:
            self.clear_data(n)
        self._probs, self._done = np.asarray(plane_probs), np.asarray(done, dtype=bool)
        idx = np.flatnonzero(self._done)
        if idx.size == 0:
            self.image.clear()
            return
        # nearest analysed frame for every column
        pos = np.searchsorted(idx, np.arange(n))
        left = idx[np.clip(pos - 1, 0, idx.size - 1)]
        right = idx[np.clip(pos, 0, idx.size - 1)]
        cols = np.arange(n)
        source = np.where(np.abs(cols - left) <= np.abs(right - cols), left, right)
        probs = np.nan_to_num(self._probs[source].T, nan=0.0)  # (planes, frames)
        alpha = np.where(self._done, 255, DIM_ALPHA).astype(np.uint8)
        p = len(self._plane_keys)
        rgba = np.zeros((p * LANE_PX, n, 4), dtype=np.uint8)
        # row r of a lane, counted from the lane's bottom, is lit when r < prob x 0.9 x LANE_PX
        level = (np.arange(LANE_PX)[::-1] + 0.5)[:, None]  # top row of the lane has the highest level
        for k in range(p):
            lit = level < probs[k][None, :] * BAR_FRACTION * LANE_PX
            block = rgba[k * LANE_PX : (k + 1) * LANE_PX]
            block[..., :3] = np.where(lit[..., None], self._colors[k], 0)
            block[..., 3] = np.where(lit, alpha[None, :], 0)
        self.image.setImage(rgba, autoLevels=False, levels=(0, 255))
        self.image.setRect(QRectF(-0.5, 0.0, float(n), float(p)))

    def set_current_frame(self, frame_index: int) -> None:
        self.cursor.setPos(frame_index)

    def bar_heights(self, plane_key: str) -> tuple[np.ndarray, np.ndarray]:
        """(analysed frame indices, their probabilities) drawn at full strength in ``plane_key``'s lane."""
        if self._probs is None or self._done is None:
            return np.array([], dtype=int), np.array([])
        k = self._plane_keys.index(plane_key)
        idx = np.flatnonzero(self._done)
        return idx, self._probs[idx, k]

    def lane_image(self) -> np.ndarray | None:
        """The RGBA image drawn (lanes x LANE_PX rows, one column per frame)."""
        return self.image.image

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
