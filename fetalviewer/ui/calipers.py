"""Caliper drawing and editing on the canvas (pyqtgraph ROIs), with a text label beside each.

Drawing, by left clicks on the image while a tool is active:

* distance: two clicks, the two end points;
* ellipse: two clicks at the ends of one axis, a third click sets the other semi-axis (its distance
  from the first axis), as on ultrasound consoles.

The layer emits geometry only; the window turns it into measurements through
:mod:`fetalviewer.ui.measure_adapter`. ``preview`` is emitted while a caliper is dragged
(``sigRegionChanged``), ``edited`` when the drag ends (``sigRegionChangeFinished``).
Coordinates are the view's data coordinates = image (column, row) pixels.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Qt, Signal

from fetalviewer.ui import theme
from fetalviewer.ui.canvas import CineCanvas


def ellipse_from_clicks(p1, p2, p3) -> dict:
    """Ellipse geometry from axis end points ``p1``, ``p2`` and a point ``p3`` setting the other axis."""
    (x1, y1), (x2, y2), (x3, y3) = p1, p2, p3
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    a = math.hypot(x2 - x1, y2 - y1) / 2.0
    if a <= 0:
        raise ValueError("ellipse axis end points coincide")
    ux, uy = (x2 - x1) / (2 * a), (y2 - y1) / (2 * a)
    b = abs(-(x3 - cx) * uy + (y3 - cy) * ux)
    return {"center_px": (cx, cy), "semi_axes_px": (a, max(b, 0.5)),
            "angle_deg": math.degrees(math.atan2(uy, ux))}


def ellipse_roi_state(geometry: dict) -> tuple[tuple[float, float], tuple[float, float], float]:
    """(pos, size, angle) of a pyqtgraph EllipseROI drawing ``geometry``.

    The ROI's origin is the corner of its unrotated bounding box and it rotates about that corner,
    so pos = centre - R(angle) (a, b).
    """
    (cx, cy), (a, b), ang = geometry["center_px"], geometry["semi_axes_px"], geometry["angle_deg"]
    t = math.radians(ang)
    ox = cx - (a * math.cos(t) - b * math.sin(t))
    oy = cy - (a * math.sin(t) + b * math.cos(t))
    return (ox, oy), (2 * a, 2 * b), ang


def roi_geometry(kind: str, roi) -> dict:
    """Read the geometry back from a ROI in image (view data) coordinates."""
    if kind == "distance":
        pts = [roi.mapToParent(h.pos()) for h in roi.endpoints]
        return {"points_px": tuple((float(p.x()), float(p.y())) for p in pts)}
    w, h = float(roi.size().x()), float(roi.size().y())
    c = roi.mapToParent(QPointF(w / 2.0, h / 2.0))
    return {"center_px": (float(c.x()), float(c.y())), "semi_axes_px": (w / 2.0, h / 2.0),
            "angle_deg": float(roi.angle())}


def _pen(color: str, width: float = 1.6):
    return pg.mkPen(color, width=width, cosmetic=True)


class CaliperLayer(QObject):
    """Shows the current frame's calipers and turns clicks into new ones."""

    drawn = Signal(str, object)  # kind, geometry
    preview = Signal(str, object)  # measurement_id, geometry
    edited = Signal(str, object)  # measurement_id, geometry
    clicked = Signal(str)  # measurement_id
    tool_changed = Signal(str)  # "", "distance", "ellipse"

    def __init__(self, canvas: CineCanvas, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self.view = canvas.view
        self._tool = ""
        self._points: list[tuple[float, float]] = []
        self._items: dict[str, tuple[str, object, pg.TextItem]] = {}
        self._selected: str | None = None
        self._rubber = pg.PlotCurveItem(pen=pg.mkPen(theme.CALIPER, width=1, style=Qt.DashLine, cosmetic=True))
        self._rubber.setZValue(20)
        self._rubber.hide()
        self.view.addItem(self._rubber, ignoreBounds=True)
        scene = canvas.graphics.scene()
        scene.sigMouseClicked.connect(self._on_scene_mouse_clicked)
        scene.sigMouseMoved.connect(self._on_scene_mouse_moved)

    # -- tools -----------------------------------------------------------------------------------

    @property
    def tool(self) -> str:
        return self._tool

    def start_tool(self, kind: str) -> None:
        if kind not in ("distance", "ellipse"):
            raise ValueError(f"kind must be 'distance' or 'ellipse', got {kind!r}")
        self._tool = kind
        self._points = []
        self._rubber.hide()
        self.canvas.graphics.setCursor(Qt.CrossCursor)
        self.tool_changed.emit(kind)

    def cancel_tool(self) -> None:
        self._tool = ""
        self._points = []
        self._rubber.hide()
        self.canvas.graphics.unsetCursor()
        self.tool_changed.emit("")

    def add_point(self, x: float, y: float) -> None:
        """One click of the active tool at image point (x, y); emits ``drawn`` when complete."""
        if not self._tool:
            return
        self._points.append((float(x), float(y)))
        needed = 2 if self._tool == "distance" else 3
        if len(self._points) < needed:
            self._update_rubber(x, y)
            return
        kind, pts = self._tool, self._points
        self.cancel_tool()
        if kind == "distance":
            if pts[0] == pts[1]:
                return
            geometry = {"points_px": (pts[0], pts[1])}
        else:
            try:
                geometry = ellipse_from_clicks(*pts)
            except ValueError:
                return
        self.drawn.emit(kind, geometry)

    def _on_scene_mouse_clicked(self, ev) -> None:
        if not self._tool or ev.button() != Qt.MouseButton.LeftButton:
            return
        if not self.view.sceneBoundingRect().contains(ev.scenePos()):
            return
        p = self.view.mapSceneToView(ev.scenePos())
        ev.accept()
        self.add_point(p.x(), p.y())

    def _on_scene_mouse_moved(self, scene_pos) -> None:
        if self._tool and self._points:
            p = self.view.mapSceneToView(scene_pos)
            self._update_rubber(p.x(), p.y())

    def _update_rubber(self, x: float, y: float) -> None:
        xs = [p[0] for p in self._points] + [x]
        ys = [p[1] for p in self._points] + [y]
        self._rubber.setData(xs, ys)
        self._rubber.show()

    # -- calipers of the current frame ---------------------------------------------------------

    def show_calipers(self, calipers) -> None:
        """Replace the displayed calipers with ``calipers``: (measurement_id, kind, geometry, text)."""
        for mid in list(self._items):
            self._remove_item(mid)
        for mid, kind, geometry, text in calipers:
            self._add_item(mid, kind, geometry, text)
        self._restyle()

    def caliper_ids(self) -> list[str]:
        return list(self._items)

    def roi_of(self, measurement_id: str):
        return self._items[measurement_id][1]

    def label_of(self, measurement_id: str) -> str:
        return self._items[measurement_id][2].toPlainText()

    def set_label(self, measurement_id: str, text: str) -> None:
        item = self._items.get(measurement_id)
        if item is not None:
            item[2].setText(text)
            self._place_label(measurement_id)

    def move_label(self, measurement_id: str, x: float, y: float, anchor: tuple[float, float] = (0, 0)) -> bool:
        """Put a caliper's label at image point (x, y) with ``anchor``; False when it is not shown."""
        item = self._items.get(measurement_id)
        if item is None:
            return False
        item[2].setAnchor(anchor)
        item[2].setPos(x, y)
        return True

    def select(self, measurement_id: str | None) -> None:
        self._selected = measurement_id
        self._restyle()

    def _add_item(self, mid: str, kind: str, geometry: dict, text: str) -> None:
        if kind == "distance":
            roi = pg.LineSegmentROI(positions=geometry["points_px"], pen=_pen(theme.CALIPER),
                                    hoverPen=_pen(theme.CALIPER_SELECTED, 2.2))
        else:
            pos, size, angle = ellipse_roi_state(geometry)
            roi = pg.EllipseROI(pos, size, angle=angle, pen=_pen(theme.CALIPER),
                                hoverPen=_pen(theme.CALIPER_SELECTED, 2.2))
        roi.setZValue(10)
        roi.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        label = pg.TextItem(text, color=theme.CALIPER, anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 150))
        label.setZValue(11)
        self.view.addItem(roi, ignoreBounds=True)
        self.view.addItem(label, ignoreBounds=True)
        self._items[mid] = (kind, roi, label)
        roi.sigRegionChanged.connect(lambda r, m=mid: self._on_roi_region_changed(m))
        roi.sigRegionChangeFinished.connect(lambda r, m=mid: self._on_roi_region_change_finished(m))
        roi.sigClicked.connect(lambda r, ev, m=mid: self.clicked.emit(m))
        self._place_label(mid)

    def _remove_item(self, mid: str) -> None:
        kind, roi, label = self._items.pop(mid)
        self.view.removeItem(roi)
        self.view.removeItem(label)

    def _place_label(self, mid: str) -> None:
        """Distance: right of its midpoint; ellipse: centred above its top."""
        kind, roi, label = self._items[mid]
        geometry = roi_geometry(kind, roi)
        if kind == "distance":
            (x1, y1), (x2, y2) = geometry["points_px"]
            label.setAnchor((0, 0.5))
            label.setPos((x1 + x2) / 2.0 + 6, (y1 + y2) / 2.0)
        else:
            (cx, cy), (a, b), ang = geometry["center_px"], geometry["semi_axes_px"], geometry["angle_deg"]
            t = math.radians(ang)
            half_h = math.hypot(a * math.sin(t), b * math.cos(t))
            label.setAnchor((0.5, 1))
            label.setPos(cx, cy - half_h - 4)

    def _restyle(self) -> None:
        for mid, (_kind, roi, label) in self._items.items():
            color = theme.CALIPER_SELECTED if mid == self._selected else theme.CALIPER
            roi.setPen(_pen(color, 2.2 if mid == self._selected else 1.6))
            label.setColor(color)

    def _on_roi_region_changed(self, mid: str) -> None:
        if mid in self._items:
            self._place_label(mid)
            kind, roi, _ = self._items[mid]
            self.preview.emit(mid, roi_geometry(kind, roi))

    def _on_roi_region_change_finished(self, mid: str) -> None:
        if mid in self._items:
            kind, roi, _ = self._items[mid]
            self.edited.emit(mid, roi_geometry(kind, roi))
