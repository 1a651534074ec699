"""The automatic head biometry overlay on the canvas: the skull contour and a values box.

The fitted ellipse itself and its BPD/OFD axes are ordinary calipers of the exam record, drawn and
edited by :class:`fetalviewer.ui.calipers.CaliperLayer` (drag the ellipse, its handles, or the axis end
points); this overlay adds what is not a caliper: the segmentation contour (a closed polyline, not
editable) and a box beside the ellipse with HC/BPD/OFD in mm and the GA they imply (Hadlock 1984,
INTERGROWTH-21st 2016), marked "automatic" or "edited". Coordinates are image (column, row) pixels,
the view's data coordinates: a contour point (x, y) from :mod:`fetalviewer.analysis.geometry` is drawn
as is (pixel (r, c) covers [c, c+1] x [r, r+1]).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from fetalviewer.ui import theme

CONTOUR_COLOR = "#38d9a9"
REFUSED_COLOR = theme.WARNING


def head_value_lines(hc, bpd=None, ofd=None, *, source: str = "automatic", model: str = "") -> list[str]:
    """The text of the values box.

    ``hc`` is a :class:`fetalviewer.analysis.biometry.HeadBiometry` of the (possibly edited) ellipse;
    ``bpd``/``ofd`` are the BPD/OFD caliper measurements when they exist (they may have been edited on
    their own), else the ellipse's axes are shown.
    """
    mark = {"automatic": "automatic", "edited": "edited by the user"}.get(source, source)
    lines = [f"Head biometry ({mark}{', ' + model if model else ''})"]
    if hc.hc_mm is None:
        lines.append(f"HC {hc.hc_px:.0f} px, BPD {hc.bpd_px:.0f} px, OFD {hc.ofd_px:.0f} px")
        lines.append(f"no mm, no GA: {hc.uncalibrated_reason}")
        return lines

    def mm(measurement, fallback: float | None) -> str:
        value = getattr(measurement, "length_mm", None) if measurement is not None else fallback
        return "—" if value is None else f"{value:.1f} mm"

    lines.append(f"HC {hc.hc_mm:.1f} mm   BPD {mm(bpd, hc.bpd_mm)}   OFD {mm(ofd, hc.ofd_mm)}")
    for estimate in hc.ga:
        if estimate.ok:
            lines.append(f"GA {estimate.method}: {estimate.display_value()}")
        else:
            lines.append(f"GA {estimate.method}: unavailable ({estimate.reason})")
    return lines


class HeadOverlay:
    """Contour polyline and values box of one frame's automatic head measurement."""

    def __init__(self, view: pg.ViewBox) -> None:
        self.view = view
        self.contour_item = pg.PlotCurveItem(pen=pg.mkPen(CONTOUR_COLOR, width=1.4, cosmetic=True,
                                                          style=Qt.DashLine))
        self.contour_item.setZValue(8)
        self.text_item = pg.TextItem("", color=theme.TEXT, anchor=(0, 0), fill=pg.mkBrush(0, 0, 0, 170),
                                     border=pg.mkPen(CONTOUR_COLOR, width=1))
        self.text_item.setZValue(12)
        for item in (self.contour_item, self.text_item):
            view.addItem(item, ignoreBounds=True)
            item.hide()
        self._lines: list[str] = []

    @property
    def contour_visible(self) -> bool:
        return self.contour_item.isVisible()

    @property
    def text(self) -> str:
        return "\n".join(self._lines) if self.text_item.isVisible() else ""

    def contour_points(self) -> np.ndarray:
        x, y = self.contour_item.getData()
        if x is None or not self.contour_item.isVisible():
            return np.zeros((0, 2))
        return np.column_stack([x, y])

    def show_contour(self, contour_px: Sequence[Sequence[float]] | None, refused: bool = False) -> None:
        """Draw the closed contour ``[(x, y), ...]`` (image pixels); None hides it."""
        pts = None if contour_px is None else np.asarray(contour_px, dtype=float).reshape(-1, 2)
        if pts is None or len(pts) < 3:
            self.contour_item.hide()
            return
        closed = np.vstack([pts, pts[:1]])
        color = REFUSED_COLOR if refused else CONTOUR_COLOR
        self.contour_item.setPen(pg.mkPen(color, width=1.4, cosmetic=True, style=Qt.DashLine))
        self.contour_item.setData(closed[:, 0], closed[:, 1])
        self.contour_item.show()

    def show_text(self, lines: Sequence[str], anchor_xy: tuple[float, float], refused: bool = False,
                  anchor: tuple[float, float] = (0.0, 1.0)) -> None:
        """The values box placed by its ``anchor`` (fractions of its size; default bottom-left corner)
        at image point ``anchor_xy``."""
        self._lines = [str(s) for s in lines]
        if not self._lines:
            self.text_item.hide()
            return
        self.text_item.setText("\n".join(self._lines))
        self.text_item.setColor(REFUSED_COLOR if refused else theme.TEXT)
        self.text_item.setAnchor(anchor)
        self.text_item.setPos(float(anchor_xy[0]), float(anchor_xy[1]))
        self.text_item.show()

    def clear(self) -> None:
        self._lines = []
        self.contour_item.hide()
        self.text_item.hide()
