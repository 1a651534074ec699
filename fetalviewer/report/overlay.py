"""Burn a key frame's overlays (plane label, contours, ellipses, calipers with values) into pixels.

Qt-free: drawing with OpenCV on an RGB copy of the frame. Geometry arrives in image coordinates
(pixel centres at +0.5, :mod:`fetalviewer.analysis.geometry`); OpenCV draws in pixel indices, so
every point is shifted by -0.5 and drawn with 4 fractional bits for sub-pixel placement.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fetalviewer.report.content import FrameOverlay

_SHIFT = 4
_ONE = 1 << _SHIFT
CONTOUR_RGB = (0, 220, 90)
ELLIPSE_RGB = (255, 210, 0)
CALIPER_RGB = (0, 200, 255)
LABEL_RGB = (255, 255, 255)


def to_rgb(frame: np.ndarray) -> np.ndarray:
    """A C-contiguous uint8 RGB copy of a gray (rows, cols) or RGB (rows, cols, 3) frame."""
    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        raise TypeError(f"frame must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
    if arr.ndim == 3 and arr.shape[2] == 3:
        return np.ascontiguousarray(arr.copy())
    raise ValueError(f"frame must be (rows, cols) or (rows, cols, 3), got shape {arr.shape}")


def imaging_boxes_of(regions: Sequence) -> list[tuple[int, int, int, int]]:
    """Inclusive (x0, y0, x1, y1) boxes of the 2D tissue / colour-flow regions of ``regions``."""
    boxes = []
    for r in regions or ():
        if int(getattr(r, "spatial_format", 0)) == 1 and int(getattr(r, "data_type", 0)) in (1, 2):
            boxes.append((int(r.x0), int(r.y0), int(r.x1), int(r.y1)))
    return boxes


def clean_outside_regions(rgb: np.ndarray, regions: Sequence) -> np.ndarray:
    """Black out everything outside the 2D imaging regions (de-identified exports); raises
    ValueError when there is no such region, since burned-in text could not be removed."""
    from fetalviewer.dicom.deid import blackout_outside

    boxes = imaging_boxes_of(regions)
    if not boxes:
        raise ValueError("no 2D imaging region: burned-in text cannot be removed from this frame")
    rows, cols = rgb.shape[:2]
    clipped = [(max(0, x0), max(0, y0), min(cols - 1, x1), min(rows - 1, y1)) for x0, y0, x1, y1 in boxes]
    return blackout_outside(rgb, clipped, 3)


def _fixed(x: float, y: float) -> tuple[int, int]:
    return (int(round((x - 0.5) * _ONE)), int(round((y - 0.5) * _ONE)))


def _scale(rgb: np.ndarray) -> tuple[float, int]:
    size = max(rgb.shape[:2])
    font = max(0.4, size / 1400.0)
    return font, max(1, int(round(size / 500.0)))


def ascii_text(text: str) -> str:
    """OpenCV's Hershey fonts draw ASCII only: spell out the few non-ASCII signs the app uses."""
    text = text.replace("\u00b2", "2").replace("\u00b1", "+-").replace("\u2265", ">=").replace("\u2264", "<=")
    return text.encode("ascii", "replace").decode("ascii")


def _text(img: np.ndarray, text: str, x: float, y: float, color, font: float, thick: int) -> None:
    import cv2

    text = ascii_text(text)

    org = (int(round(x)), int(round(y)))
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, font, color, thick, cv2.LINE_AA)


def _label_box(img: np.ndarray, text: str, font: float, thick: int) -> None:
    import cv2

    text = ascii_text(text)
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, thick)
    pad = max(3, int(h * 0.4))
    cv2.rectangle(img, (0, 0), (w + 2 * pad, h + base + 2 * pad), (20, 20, 20), -1)
    cv2.putText(img, text, (pad, pad + h), cv2.FONT_HERSHEY_SIMPLEX, font, LABEL_RGB, thick, cv2.LINE_AA)


def _cross(img: np.ndarray, x: float, y: float, half: float, color, thick: int) -> None:
    import cv2

    cv2.line(img, _fixed(x - half, y), _fixed(x + half, y), color, thick, cv2.LINE_AA, _SHIFT)
    cv2.line(img, _fixed(x, y - half), _fixed(x, y + half), color, thick, cv2.LINE_AA, _SHIFT)


def _overlaps(img, placed, text: str, anchor, font: float, thick: int) -> bool:
    """True when a label at ``anchor`` would cover one already drawn (text boxes intersect)."""
    import cv2

    (w, h), _ = cv2.getTextSize(ascii_text(text), cv2.FONT_HERSHEY_SIMPLEX, font, thick)
    x, y = anchor
    for other, ox, oy in placed:
        (ow, oh), _ = cv2.getTextSize(other, cv2.FONT_HERSHEY_SIMPLEX, font, thick)
        if x < ox + ow and ox < x + w and y - h - 2 < oy and oy - oh - 2 < y:
            return True
    return False


def _caliper_label_spots(p1, p2, w: int, h: int) -> list[tuple[float, float]]:
    """Where a caliper's label may go, in order: beside its midpoint, then inside the line near either
    end, above or below it (BPD and OFD of one head share their midpoint, the ellipse centre)."""
    (x1, y1), (x2, y2) = p1, p2
    spots = [((x1 + x2) / 2 + 8, (y1 + y2) / 2 - 8)]
    cx = (x1 + x2) / 2
    for x, y in sorted((p1, p2), key=lambda p: -p[1]):  # the lower end first
        left = x - w - 8 if x > cx else x + 8  # towards the middle of the line
        spots += [(left, y - 10), (left, y + h + 10)]
    return spots


def render_overlay(
    frame: np.ndarray, overlay: FrameOverlay, regions: Sequence = (), clean: bool = False
) -> np.ndarray:
    """The frame as RGB with ``overlay`` burnt in; with ``clean`` first black outside the 2D regions."""
    import cv2

    img = to_rgb(frame)
    if clean:
        img = clean_outside_regions(img, regions)
    font, thick = _scale(img)
    placed: list[tuple[str, float, float]] = []  # labels drawn so far: (text, x, baseline y)
    for contour in overlay.contours_px:
        pts = np.array([_fixed(x, y) for x, y in contour], dtype=np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [pts], True, CONTOUR_RGB, thick, cv2.LINE_AA, _SHIFT)
    for m in overlay.measurements:
        text = m.display_text()
        if m.kind == "ellipse":
            (cx, cy), (a, b) = m.center_px, m.semi_axes_px
            cv2.ellipse(
                img, _fixed(cx, cy), (int(round(a * _ONE)), int(round(b * _ONE))), float(m.angle_deg),
                0.0, 360.0, ELLIPSE_RGB, thick, cv2.LINE_AA, _SHIFT,
            )  # fmt: skip
            t = math.radians(m.angle_deg)
            for sa, sb in ((a, 0.0), (0.0, b)):
                dx, dy = sa * math.cos(t) - sb * math.sin(t), sa * math.sin(t) + sb * math.cos(t)
                cv2.line(
                    img,
                    _fixed(cx - dx, cy - dy),
                    _fixed(cx + dx, cy + dy),
                    ELLIPSE_RGB,
                    1,
                    cv2.LINE_AA,
                    _SHIFT,
                )
            half_h = math.hypot(a * math.sin(t), b * math.cos(t))
            anchor = (cx - 0.5 * a, cy - half_h - 6 * thick)
            color = ELLIPSE_RGB
        else:
            (x1, y1), (x2, y2) = m.points_px
            cv2.line(img, _fixed(x1, y1), _fixed(x2, y2), CALIPER_RGB, thick, cv2.LINE_AA, _SHIFT)
            for x, y in ((x1, y1), (x2, y2)):
                _cross(img, x, y, 4 + 2 * thick, CALIPER_RGB, thick)
            (w, h), _ = cv2.getTextSize(ascii_text(text), cv2.FONT_HERSHEY_SIMPLEX, font, thick)
            candidates = _caliper_label_spots((x1, y1), (x2, y2), w, h)
            anchor = next(
                (c for c in candidates if not _overlaps(img, placed, text, c, font, thick)), candidates[0]
            )
            color = CALIPER_RGB
        (text_w, _), _ = cv2.getTextSize(ascii_text(text), cv2.FONT_HERSHEY_SIMPLEX, font, thick)
        x = min(max(2.0, anchor[0]), img.shape[1] - text_w - 4.0)  # the whole label stays on the image
        y = min(max(20.0 * font + 4, anchor[1]), img.shape[0] - 4.0)
        _text(img, text, x, y, color, font, thick)
        placed.append((ascii_text(text), x, y))
    if overlay.plane_text:
        _label_box(img, overlay.plane_text, font * 1.1, thick)
    return img


def render_key_frame(key_frame, clean: bool = False) -> np.ndarray:
    """Decode the key frame from its instance and burn its overlay in (RGB uint8)."""
    inst = key_frame.instance
    try:
        return render_overlay(
            inst.frame(key_frame.frame_index), key_frame.overlay, getattr(inst, "regions", ()), clean
        )
    except ValueError as exc:
        raise ValueError(f"{getattr(inst, 'path', 'instance')} frame {key_frame.frame_index}: {exc}") from exc


def write_png(rgb: np.ndarray, target) -> None:
    """Encode an RGB frame as PNG and write it atomically."""
    import cv2

    from fetalviewer.atomic import write_bytes_atomic
    from fetalviewer.errors import ExportError

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ExportError(f"{target}: PNG encoding failed")
    write_bytes_atomic(target, buf.tobytes())
