"""Plane geometry shared by measurements, contours and biometry: every coordinate convention in one place.

The app's point convention ("image coordinates"): a point is ``(x, y) = (col, row)`` floats in the
pixels of the original frame, and pixel ``(r, c)`` covers ``[c, c+1] x [r, r+1]``, so its centre is
``(c + 0.5, r + 0.5)``. The others, and how they relate to it:

* numpy arrays are indexed ``[row, col]``: pixel ``[r, c]`` has its centre at ``(c + 0.5, r + 0.5)``
  (:func:`index_to_point`, :func:`point_to_index`);
* a row-major pyqtgraph ``ImageItem`` draws pixel ``(r, c)`` on ``[c, c+1] x [r, r+1]``: the same as
  image coordinates (:func:`imageitem_pixel_rect`), so ROI positions need no conversion;
* ``cv2.findContours`` and ``cv2.fitEllipse`` work in integer pixel indices ``(x=col, y=row)`` whose
  pixel centres sit at integers: add 0.5 to reach image coordinates (:func:`cv_to_points`,
  :func:`points_to_cv`, :meth:`Ellipse.from_cv`);
* DICOM SR SCOORD (PS3.3 C.18.6.1.2) is ``(column, row)`` with the top-left pixel's centre at
  ``(0.5, 0.5)``: the same as image coordinates (:func:`points_to_scoord`, :func:`scoord_to_points`).

Because the convention puts pixel edges at integers, resizing is a plain scale of coordinates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def ramanujan_perimeter(a: float, b: float) -> float:
    """Perimeter of an ellipse with semi-axes ``a`` and ``b`` (same unit in, same unit out).

    Ramanujan's second approximation (S. Ramanujan, "Modular equations and approximations to pi",
    Quart. J. Pure Appl. Math. 45 (1914) 350-372):
    ``P = pi (a + b) [1 + 3h / (10 + sqrt(4 - 3h))]`` with ``h = ((a - b) / (a + b))^2``.
    Its relative error is below 1e-9 for the eccentricities of fetal heads and abdomens.
    """
    a = float(a)
    b = float(b)
    if not (math.isfinite(a) and math.isfinite(b)) or a < 0 or b < 0:
        raise ValueError(f"semi-axes must be finite and >= 0, got a={a!r}, b={b!r}")
    if a + b == 0:
        return 0.0
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1.0 + 3.0 * h / (10.0 + math.sqrt(4.0 - 3.0 * h)))


# -- coordinate conversions ---------------------------------------------------------------------------
def _as_points(points: Sequence[Sequence[float]] | np.ndarray, name: str = "points") -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[1] == 1:  # cv2 contour layout (N, 1, 2)
        arr = arr[:, 0, :]
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {arr.shape}")
    return arr


def index_to_point(row: float, col: float) -> tuple[float, float]:
    """Centre of numpy pixel ``[row, col]`` in image coordinates ``(x, y)``."""
    return (float(col) + 0.5, float(row) + 0.5)


def point_to_index(x: float, y: float) -> tuple[int, int]:
    """``(row, col)`` of the pixel holding image point ``(x, y)``."""
    return (math.floor(y), math.floor(x))


def rc_to_points(rc: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Array of ``[row, col]`` pixel indices -> (N, 2) image points at the pixel centres."""
    arr = _as_points(rc, "rc")
    return arr[:, ::-1] + 0.5


def imageitem_pixel_rect(row: int, col: int) -> tuple[float, float, float, float]:
    """``(x0, y0, x1, y1)`` covered by pixel ``(row, col)`` in a row-major pyqtgraph ImageItem."""
    return (float(col), float(row), float(col + 1), float(row + 1))


def cv_to_points(contour: np.ndarray) -> np.ndarray:
    """A ``cv2.findContours`` contour ((N, 1, 2) int, x=col, y=row) -> (N, 2) float image points."""
    return _as_points(contour, "contour") + 0.5


def points_to_cv(points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Image points -> float32 (N, 1, 2) array in OpenCV's pixel-index coordinates."""
    return (_as_points(points) - 0.5).astype(np.float32).reshape(-1, 1, 2)


def points_to_scoord(points: Sequence[Sequence[float]] | np.ndarray) -> list[float]:
    """Image points -> flat SCOORD GraphicData ``[c1, r1, c2, r2, ...]`` (same convention)."""
    return [float(v) for v in _as_points(points).reshape(-1)]


def scoord_to_points(graphic_data: Sequence[float]) -> np.ndarray:
    """Flat SCOORD GraphicData ``[c1, r1, ...]`` -> (N, 2) image points."""
    arr = np.asarray(graphic_data, dtype=np.float64)
    if arr.ndim != 1 or arr.size % 2:
        raise ValueError(f"graphic_data must be a flat list of (column, row) pairs, got {arr.size} values")
    return arr.reshape(-1, 2)


# -- ellipses -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ellipse:
    """An ellipse in image coordinates: centre, semi-axes ``a >= b``, angle of ``a`` from +x towards +y.

    ``angle_deg`` is normalised to ``[0, 180)``; with y pointing down it turns clockwise on screen,
    the same sense as ``cv2.fitEllipse``.
    """

    center_px: tuple[float, float]
    semi_axes_px: tuple[float, float]
    angle_deg: float

    def __post_init__(self) -> None:
        cx, cy = (float(v) for v in self.center_px)
        a, b = (float(v) for v in self.semi_axes_px)
        angle = float(self.angle_deg)
        if not all(math.isfinite(v) for v in (cx, cy, a, b, angle)):
            raise ValueError(f"ellipse values must be finite, got {self!r}")
        if a <= 0 or b <= 0:
            raise ValueError(f"semi_axes_px must both be > 0, got {self.semi_axes_px!r}")
        if b > a:
            a, b, angle = b, a, angle + 90.0
        object.__setattr__(self, "center_px", (cx, cy))
        object.__setattr__(self, "semi_axes_px", (a, b))
        object.__setattr__(self, "angle_deg", angle % 180.0)

    @classmethod
    def from_cv(cls, rotated_rect: tuple) -> Ellipse:
        """From ``cv2.fitEllipse``'s ``((cx, cy), (width, height), angle)`` (full axes, pixel indices)."""
        (cx, cy), (w, h), angle = rotated_rect
        return cls((cx + 0.5, cy + 0.5), (w / 2.0, h / 2.0), angle)

    @property
    def perimeter_px(self) -> float:
        return ramanujan_perimeter(*self.semi_axes_px)

    @property
    def area_px2(self) -> float:
        return math.pi * self.semi_axes_px[0] * self.semi_axes_px[1]

    def _frame(self) -> tuple[float, float, float, float, float, float]:
        t = math.radians(self.angle_deg)
        return (*self.center_px, *self.semi_axes_px, math.cos(t), math.sin(t))

    def axis_endpoints(self) -> tuple[tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]:
        """((major end 1, major end 2), (minor end 1, minor end 2)) in image coordinates."""
        cx, cy, a, b, c, s = self._frame()
        major = ((cx - a * c, cy - a * s), (cx + a * c, cy + a * s))
        minor = ((cx + b * s, cy - b * c), (cx - b * s, cy + b * c))
        return major, minor

    def bounding_points(self) -> list[tuple[float, float]]:
        """Leftmost, rightmost, top and bottom points of the ellipse's axis-aligned bounding box.

        The ellipse lies inside an axis-aligned box (e.g. an ultrasound region) exactly when these do."""
        cx, cy, a, b, c, s = self._frame()
        half_w, half_h = math.hypot(a * c, b * s), math.hypot(a * s, b * c)
        return [(cx - half_w, cy), (cx + half_w, cy), (cx, cy - half_h), (cx, cy + half_h)]

    def sample(self, n: int = 256) -> np.ndarray:
        """(n, 2) points evenly spaced in parameter along the ellipse."""
        cx, cy, a, b, c, s = self._frame()
        t = np.linspace(0.0, 2.0 * np.pi, int(n), endpoint=False)
        x = cx + a * np.cos(t) * c - b * np.sin(t) * s
        y = cy + a * np.cos(t) * s + b * np.sin(t) * c
        return np.stack([x, y], axis=1)

    def radial_distance(self, points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        """Approximate signed distance of points from the curve along the ray from the centre (+ outside).

        ``|p| (1 - 1/r)`` with ``r`` the normalised radius; exact for a circle, a close bound otherwise.
        """
        cx, cy, a, b, c, s = self._frame()
        p = _as_points(points) - (cx, cy)
        u = p[:, 0] * c + p[:, 1] * s
        v = -p[:, 0] * s + p[:, 1] * c
        r = np.sqrt((u / a) ** 2 + (v / b) ** 2)
        norm = np.hypot(u, v)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(r > 0, norm * (1.0 - 1.0 / r), -b)

    def transformed(
        self, scale_x: float, scale_y: float, offset_x: float = 0.0, offset_y: float = 0.0
    ) -> Ellipse:
        """The image of this ellipse under ``(x, y) -> (sx x + ox, sy y + oy)`` (exact: an affine image of
        an ellipse is an ellipse; its semi-axes are the singular values of ``diag(sx, sy) R diag(a, b)``)."""
        cx, cy, a, b, c, s = self._frame()
        m = np.array([[scale_x * c * a, -scale_x * s * b], [scale_y * s * a, scale_y * c * b]])
        u, sv, _ = np.linalg.svd(m)
        angle = math.degrees(math.atan2(u[1, 0], u[0, 0]))
        return Ellipse((scale_x * cx + offset_x, scale_y * cy + offset_y), (sv[0], sv[1]), angle)

    def to_dict(self) -> dict:
        return {
            "center_px": list(self.center_px),
            "semi_axes_px": list(self.semi_axes_px),
            "angle_deg": self.angle_deg,
        }


# -- model input <-> original pixels ------------------------------------------------------------------
@dataclass(frozen=True)
class InputMapping:
    """How a model input image was made from an original frame, so that points can be mapped back.

    Steps, in order: crop ``[crop_x0, crop_x0 + crop_width) x [crop_y0, crop_y0 + crop_height)`` (e.g. the
    ultrasound region), zero-pad to ``padded_width x padded_height`` with the crop pasted at
    ``(pad_left, pad_top)``, resize to ``input_width x input_height``. In image coordinates (pixel edges
    at integers) each step is exact: a shift, a shift, a scale.
    """

    crop_x0: int
    crop_y0: int
    crop_width: int
    crop_height: int
    pad_left: int
    pad_top: int
    padded_width: int
    padded_height: int
    input_width: int
    input_height: int

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        for name in (
            "crop_width",
            "crop_height",
            "padded_width",
            "padded_height",
            "input_width",
            "input_height",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.crop_x0 < 0 or self.crop_y0 < 0 or self.pad_left < 0 or self.pad_top < 0:
            raise ValueError("crop_x0, crop_y0, pad_left and pad_top must be >= 0")
        if (
            self.pad_left + self.crop_width > self.padded_width
            or self.pad_top + self.crop_height > self.padded_height
        ):
            raise ValueError("the crop does not fit inside the padded image")

    @classmethod
    def square_pad(
        cls, width: int, height: int, input_size: int = 224, crop_x0: int = 0, crop_y0: int = 0
    ) -> InputMapping:
        """FetalCLIP's preprocessing (arXiv 2502.14807; docs/fetalclip.md): zero-pad a ``width x height`` image (or crop) to a
        square of side ``max(width, height)`` pasted at ``((side - width) // 2, (side - height) // 2)``,
        then resize to ``input_size``."""
        side = max(int(width), int(height))
        return cls(
            crop_x0=int(crop_x0),
            crop_y0=int(crop_y0),
            crop_width=int(width),
            crop_height=int(height),
            pad_left=(side - int(width)) // 2,
            pad_top=(side - int(height)) // 2,
            padded_width=side,
            padded_height=side,
            input_width=int(input_size),
            input_height=int(input_size),
        )

    @property
    def scale_x(self) -> float:
        """Original pixels per model-input pixel along x."""
        return self.padded_width / self.input_width

    @property
    def scale_y(self) -> float:
        return self.padded_height / self.input_height

    def to_original(self, points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        """Model-input image points -> original-frame image points."""
        p = _as_points(points)
        x = p[:, 0] * self.scale_x - self.pad_left + self.crop_x0
        y = p[:, 1] * self.scale_y - self.pad_top + self.crop_y0
        return np.stack([x, y], axis=1)

    def to_input(self, points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        """Original-frame image points -> model-input image points."""
        p = _as_points(points)
        x = (p[:, 0] - self.crop_x0 + self.pad_left) / self.scale_x
        y = (p[:, 1] - self.crop_y0 + self.pad_top) / self.scale_y
        return np.stack([x, y], axis=1)

    def ellipse_to_original(self, ellipse: Ellipse) -> Ellipse:
        return ellipse.transformed(
            self.scale_x, self.scale_y, self.crop_x0 - self.pad_left, self.crop_y0 - self.pad_top
        )

    def image_box_in_input(self) -> tuple[float, float, float, float]:
        """``(x0, y0, x1, y1)`` of the input that holds image content (not padding), image coordinates."""
        x0 = self.pad_left / self.scale_x
        y0 = self.pad_top / self.scale_y
        return (x0, y0, x0 + self.crop_width / self.scale_x, y0 + self.crop_height / self.scale_y)


# -- contour -> ellipse -------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class EllipseFit:
    """The result of fitting an ellipse to a contour: the ellipse, or ``None`` and the reason.

    ``contour_px`` is the outline used (image coordinates of the original frame; empty when there was
    none); ``rms_residual_px`` the RMS radial distance of the outline from the fitted ellipse.
    """

    ellipse: Ellipse | None
    contour_px: np.ndarray
    reason: str | None = None
    rms_residual_px: float | None = None

    @property
    def ok(self) -> bool:
        return self.ellipse is not None


#: Defaults for accepting a contour as an ellipse-like closed curve.
MIN_CONTOUR_POINTS = 20
MAX_RMS_RESIDUAL_REL = 0.04  # RMS radial distance / sqrt(a b)
MIN_ANGULAR_COVERAGE = 0.9  # share of 10-degree sectors around the centre holding outline points
MIN_SOLIDITY = 0.85  # mask area / convex hull area
MIN_AXIS_RATIO = 0.3  # b / a


def fit_ellipse_to_points(
    points: Sequence[Sequence[float]] | np.ndarray,
    *,
    min_points: int = MIN_CONTOUR_POINTS,
    max_rms_residual_rel: float = MAX_RMS_RESIDUAL_REL,
    min_angular_coverage: float = MIN_ANGULAR_COVERAGE,
) -> EllipseFit:
    """Least-squares ellipse through outline points (image coordinates), with plausibility checks.

    Uses ``cv2.fitEllipse`` (Fitzgibbon, Pilu & Fisher, "Direct least square fitting of ellipses",
    IEEE TPAMI 21(5) 1999). Refuses, with the reason: fewer than ``min_points`` points, points that
    do not surround the fitted centre (an open arc, not a closed curve), a degenerate or elongated
    fit, and an RMS residual above ``max_rms_residual_rel`` of the mean radius.
    """
    import cv2

    pts = _as_points(points)
    if len(pts) < min_points:
        return EllipseFit(None, pts, f"the outline has {len(pts)} points; at least {min_points} are needed")
    try:
        ellipse = Ellipse.from_cv(cv2.fitEllipse(points_to_cv(pts)))
    except (cv2.error, ValueError) as exc:
        return EllipseFit(None, pts, f"no ellipse could be fitted to the outline ({exc})")
    a, b = ellipse.semi_axes_px
    if b / a < MIN_AXIS_RATIO:
        return EllipseFit(
            None, pts, f"the fitted ellipse is too elongated (axis ratio {b / a:.2f} < {MIN_AXIS_RATIO})"
        )
    angles = np.arctan2(pts[:, 1] - ellipse.center_px[1], pts[:, 0] - ellipse.center_px[0])
    sectors = np.unique(((angles + np.pi) / (2 * np.pi) * 36).astype(int) % 36)
    coverage = len(sectors) / 36.0
    if coverage < min_angular_coverage:
        return EllipseFit(
            None,
            pts,
            f"the outline is not a closed curve around its centre (covers {coverage:.0%} of directions)",
        )
    rms = float(np.sqrt(np.mean(ellipse.radial_distance(pts) ** 2)))
    rel = rms / math.sqrt(a * b)
    if rel > max_rms_residual_rel:
        return EllipseFit(
            None,
            pts,
            f"the outline is not ellipse-like (RMS residual {rms:.1f} px = {rel:.1%} of the radius, "
            f"limit {max_rms_residual_rel:.0%})",
            rms,
        )
    return EllipseFit(ellipse, pts, None, rms)


def outer_contour(mask: np.ndarray) -> np.ndarray:
    """The outer boundary of the largest connected blob of a 2-D mask, as (N, 2) image points.

    Points are the centres of the blob's boundary pixels (``cv2.findContours``, RETR_EXTERNAL, every
    pixel kept); empty (0, 2) when the mask is empty.
    """
    import cv2

    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {arr.shape}")
    binary = np.ascontiguousarray(arr > 0, dtype=np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return np.zeros((0, 2))
    biggest = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
    return cv_to_points(biggest)


def fit_ellipse_to_mask(
    mask: np.ndarray,
    mapping: InputMapping | None = None,
    *,
    edge_offset_px: float = 0.5,
    content_box_px: tuple[float, float, float, float] | None = None,
    min_points: int = MIN_CONTOUR_POINTS,
    min_solidity: float = MIN_SOLIDITY,
    max_rms_residual_rel: float = MAX_RMS_RESIDUAL_REL,
) -> EllipseFit:
    """Mask -> outer contour -> ellipse, in original-frame pixels when ``mapping`` is given.

    The contour runs through the centres of the blob's boundary pixels, which lie about half a mask
    pixel inside the blob's edge (0.45 px measured on ideally rasterised ellipses), so both semi-axes
    are grown by ``edge_offset_px`` mask pixels (scaled to original pixels). A blob that touches the
    image content's border (the mask edge, or the zero padding of the model input) is refused: the
    head is cut off and its circumference would be wrong. ``content_box_px`` ``(x0, y0, x1, y1)`` in
    the mask's image coordinates narrows that border (e.g. the ultrasound region of a full-frame mask);
    with a ``mapping`` the padding box is used and intersected with it.
    """
    import cv2

    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {arr.shape}")
    contour = outer_contour(arr)
    mapped = contour if mapping is None else mapping.to_original(contour) if len(contour) else contour
    if len(contour) == 0:
        return EllipseFit(None, contour, "the segmentation is empty (no head found)")
    if len(contour) < min_points:
        return EllipseFit(
            None, mapped, f"the outline has {len(contour)} points; at least {min_points} are needed"
        )
    h, w = arr.shape
    x0, y0, x1, y1 = (0.0, 0.0, float(w), float(h)) if mapping is None else mapping.image_box_in_input()
    if content_box_px is not None:
        bx0, by0, bx1, by1 = (float(v) for v in content_box_px)
        x0, y0, x1, y1 = max(x0, bx0), max(y0, by0), min(x1, bx1), min(y1, by1)
    x0, y0 = max(x0, 0.0), max(y0, 0.0)
    x1, y1 = min(x1, float(w)), min(y1, float(h))
    if (
        contour[:, 0].min() - 0.5 <= x0 + 0.5
        or contour[:, 1].min() - 0.5 <= y0 + 0.5
        or contour[:, 0].max() + 0.5 >= x1 - 0.5
        or contour[:, 1].max() + 0.5 >= y1 - 0.5
    ):
        return EllipseFit(None, mapped, "the outline touches the image border (the structure is cut off)")
    cv_contour = points_to_cv(contour).astype(np.int32)
    hull_area = cv2.contourArea(cv2.convexHull(cv_contour))
    solidity = cv2.contourArea(cv_contour) / hull_area if hull_area > 0 else 0.0
    if solidity < min_solidity:
        return EllipseFit(
            None, mapped, f"the outline is not ellipse-like (solidity {solidity:.2f} < {min_solidity})"
        )
    fit = fit_ellipse_to_points(mapped, min_points=min_points, max_rms_residual_rel=max_rms_residual_rel)
    if fit.ellipse is None:
        return fit
    scale = 1.0 if mapping is None else 0.5 * (mapping.scale_x + mapping.scale_y)
    e = fit.ellipse
    grown = Ellipse(
        e.center_px,
        (e.semi_axes_px[0] + edge_offset_px * scale, e.semi_axes_px[1] + edge_offset_px * scale),
        e.angle_deg,
    )
    return EllipseFit(grown, mapped, None, fit.rms_residual_px)
