"""The image canvas: one frame in a pyqtgraph ViewBox with zoom, pan, fit, window/level and regions.

Frames are shown row-major (``imageAxisOrder='row-major'`` set once in :mod:`fetalviewer.ui.app`),
uint8 with explicit levels and ``autoLevels=False``. The view's data coordinates are the original
image pixel coordinates: pixel (row r, column c) covers [c, c+1] x [r, r+1], so a point (x, y) in
the view is (column, row) in the image. The y axis is inverted (top row at the top) and the aspect
ratio is locked to the physical pixel shape of the calibrated region when its deltas differ.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from fetalviewer.ui import theme


class _ImageViewBox(pg.ViewBox):
    """ViewBox whose right-button drag adjusts window/level instead of zooming."""

    sigWindowLevelDrag = Signal(float, float, bool)  # dx, dy (screen px), finished

    def __init__(self) -> None:
        super().__init__(invertY=True, lockAspect=True, enableMenu=False)
        self._wl_last = None

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 (Qt override)
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            pos = ev.screenPos()
            last = ev.lastScreenPos() if not ev.isStart() else pos
            self.sigWindowLevelDrag.emit(pos.x() - last.x(), pos.y() - last.y(), ev.isFinish())
            return
        super().mouseDragEvent(ev, axis)


class CineCanvas(QWidget):
    """Shows frames of one instance; emits the window/level in force when the user changes it."""

    window_level_changed = Signal(float, float)  # center, width

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsView(background="k")
        self.view = _ImageViewBox()
        self.graphics.setCentralItem(self.view)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image_item)
        self._region_items: list[QGraphicsRectItem] = []
        self._regions_visible = True
        self._is_color = False
        self._shape: tuple[int, int] = (0, 0)
        self._wl = (127.5, 255.0)
        self.view.sigWindowLevelDrag.connect(self._on_view_window_level_drag)

        self.overlay_top_left = self._info_label(Qt.AlignLeft | Qt.AlignVCenter)
        self.overlay_top_right = self._info_label(Qt.AlignRight | Qt.AlignVCenter)
        self.overlay_bottom_left = self._info_label(Qt.AlignLeft | Qt.AlignVCenter)
        self.overlay_bottom_right = self._info_label(Qt.AlignRight | Qt.AlignVCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._info_bar(self.overlay_top_left, self.overlay_top_right))
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self._info_bar(self.overlay_bottom_left, self.overlay_bottom_right))
        self.message_label = QLabel(self.graphics)
        self.message_label.setObjectName("canvasMessage")
        self.message_label.setWordWrap(True)
        self.message_label.hide()

    def _info_label(self, align) -> QLabel:
        label = QLabel()
        label.setObjectName("overlay")
        label.setAlignment(align)
        return label

    @staticmethod
    def _info_bar(left: QLabel, right: QLabel) -> QWidget:
        """A black strip above or below the image (text never covers the image itself)."""
        bar = QWidget()
        bar.setObjectName("infoBar")
        row = QHBoxLayout(bar)
        row.setContentsMargins(8, 3, 8, 3)
        row.setSpacing(24)
        left.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # elided first, not overlapped
        row.addWidget(left, 1)
        row.addWidget(right, 0)
        return bar

    # -- instance and frames ---------------------------------------------------------------------

    def set_instance(self, loop) -> None:
        """Prepare for ``loop``: size, aspect ratio, region outlines; W/L reset; view fitted."""
        self._is_color = bool(loop.is_color)
        self._shape = (int(loop.rows), int(loop.columns))
        self.view.setAspectLocked(True, ratio=self.aspect_ratio_for(loop.regions))
        self._build_regions(loop.regions)
        self.reset_window_level()
        self.clear_message()
        self.image_item.clear()
        self.fit()

    @staticmethod
    def aspect_ratio_for(regions) -> float:
        """pyqtgraph's locked ratio (x scale / y scale) giving physically square display.

        One data unit is one pixel; a pixel that is physically taller than wide (delta_y > delta_x)
        must get proportionally more screen height, i.e. x scale / y scale = delta_x / delta_y.
        """
        from fetalviewer.ui.calibration_view import display_calibration

        cal = display_calibration(regions)
        if cal is None or not cal[0] or not cal[1]:
            return 1.0
        mm_x, mm_y = cal
        return 1.0 if abs(mm_x - mm_y) <= 1e-9 * max(mm_x, mm_y) else mm_x / mm_y

    def show_frame(self, frame: np.ndarray) -> None:
        """Display one decoded frame (uint8 gray or RGB) with the window/level in force."""
        self.message_label.hide()
        self.image_item.setImage(frame, autoLevels=False, levels=self._levels(frame))

    def show_message(self, text: str) -> None:
        """Show a problem (e.g. a corrupt frame) over the canvas; the previous image stays visible."""
        self.message_label.setText(text)
        self.message_label.show()
        self._place_overlays()

    def clear_message(self) -> None:
        self.message_label.hide()

    def clear(self) -> None:
        self.image_item.clear()
        self._build_regions(())
        for label in self._overlays():
            label.setText("")
        self.clear_message()

    # -- window / level --------------------------------------------------------------------------

    def _levels(self, frame: np.ndarray):
        if frame.ndim == 3:
            return (0.0, 255.0)
        center, width = self._wl
        return (center - width / 2.0, center + width / 2.0)

    @property
    def window_level(self) -> tuple[float, float]:
        return self._wl

    def set_window_level(self, center: float, width: float) -> None:
        """Set window centre and width (grey levels); ignored for colour images."""
        if self._is_color:
            return
        width = float(min(max(width, 1.0), 512.0))
        center = float(min(max(center, -128.0), 383.0))
        self._wl = (center, width)
        if self.image_item.image is not None and self.image_item.image.ndim == 2:
            self.image_item.setLevels(self._levels(self.image_item.image))
        self.window_level_changed.emit(center, width)

    def reset_window_level(self) -> None:
        self._wl = (127.5, 255.0)
        if self.image_item.image is not None:
            self.image_item.setLevels(self._levels(self.image_item.image))
        self.window_level_changed.emit(*self._wl)

    def _on_view_window_level_drag(self, dx: float, dy: float, finished: bool) -> None:
        if self._is_color:
            return
        center, width = self._wl
        self.set_window_level(center - dy, width + dx)

    @property
    def is_color(self) -> bool:
        return self._is_color

    # -- view ------------------------------------------------------------------------------------

    def fit(self) -> None:
        rows, cols = self._shape
        if rows and cols:
            self.view.setRange(QRectF(0, 0, cols, rows), padding=0.01)

    def zoom(self, factor: float) -> None:
        """Zoom about the view centre (factor > 1 zooms in)."""
        self.view.scaleBy((1.0 / factor, 1.0 / factor))

    def zoom_factor(self) -> float:
        """Screen pixels per image column (1.0 = one image pixel per screen pixel)."""
        (x0, x1), _ = self.view.viewRange()
        width = self.view.width()
        return width / (x1 - x0) if x1 > x0 else 1.0

    def map_image_to_widget(self, x: float, y: float) -> QPointF:
        """Image point (column, row) to this widget's pixel coordinates (used by tests and tools)."""
        scene = self.view.mapViewToScene(QPointF(x, y))
        return QPointF(self.graphics.mapFromScene(scene))

    # -- regions ---------------------------------------------------------------------------------

    def _build_regions(self, regions) -> None:
        for item in self._region_items:
            self.view.removeItem(item)
        self._region_items = []
        from fetalviewer.ui.calibration_view import calibrated_region_indices

        calibrated = calibrated_region_indices(regions)
        for region in regions:
            rect = QGraphicsRectItem(QRectF(region.x0, region.y0, region.x1 - region.x0 + 1,
                                            region.y1 - region.y0 + 1))
            is_cal = region.index in calibrated
            pen = QPen(QColor(theme.REGION_CALIBRATED if is_cal else theme.REGION))
            pen.setCosmetic(True)
            pen.setWidthF(1.5 if is_cal else 1.0)
            pen.setStyle(Qt.SolidLine if is_cal else Qt.DashLine)
            rect.setPen(pen)
            rect.setZValue(5)
            rect.setVisible(self._regions_visible)
            rect.setData(0, region.index)
            self.view.addItem(rect, ignoreBounds=True)
            self._region_items.append(rect)

    def set_regions_visible(self, visible: bool) -> None:
        self._regions_visible = bool(visible)
        for item in self._region_items:
            item.setVisible(self._regions_visible)

    @property
    def regions_visible(self) -> bool:
        return self._regions_visible

    @property
    def region_items(self) -> list[QGraphicsRectItem]:
        return list(self._region_items)

    # -- overlays --------------------------------------------------------------------------------

    def _overlays(self) -> list[QLabel]:
        return [self.overlay_top_left, self.overlay_top_right, self.overlay_bottom_left,
                self.overlay_bottom_right]

    def set_overlay_text(self, top_left=None, top_right=None, bottom_left=None, bottom_right=None) -> None:
        for label, text in zip(self._overlays(), (top_left, top_right, bottom_left, bottom_right), strict=False):
            if text is not None:
                label.setText(text)

    def _place_overlays(self) -> None:
        w, h, m = self.graphics.width(), self.graphics.height(), 8
        msg = self.message_label
        msg.setMaximumWidth(max(w - 4 * m, 100))
        msg.adjustSize()
        msg.move(max((w - msg.width()) // 2, 0), max(h // 2 - msg.height() // 2, 0))

    def resizeEvent(self, event):  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self._place_overlays()
