"""One caliper measurement on one frame: a distance or an ellipse, in original image pixels.

A :class:`Measurement` keeps its geometry in the pixels of the original frame (points are
``(x=col, y=row)``) and the :class:`~fetalviewer.dicom.calibration.Calibration` that applies to it
(or ``None`` with the reason). Values in mm are computed, never stored, so an edit can never leave a
stale number behind.

Anisotropic calibration (``mm_per_px_x != mm_per_px_y``, legal in the DICOM Sequence of Ultrasound
Regions) is handled by mapping the geometry into mm coordinates before measuring:

* a distance is ``hypot(dx * sx, dy * sy)``;
* an ellipse maps to an ellipse under the linear map ``S = diag(sx, sy)``: its mm semi-axes are the
  singular values of ``S R(angle) diag(a, b)``, which is exact; the perimeter is then Ramanujan's
  second approximation on those semi-axes (exact to < 1e-9 relative), the area ``pi a b sx sy``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fetalviewer.analysis.geometry import ramanujan_perimeter

if TYPE_CHECKING:  # pragma: no cover
    from fetalviewer.dicom.calibration import Calibration

KINDS = ("distance", "ellipse")
SOURCES = ("manual", "automatic", "edited")
DISTANCE_LABELS = ("BPD", "OFD", "FL", "TCD", "CRL")
ELLIPSE_LABELS = ("HC", "AC")
LABELS = ("BPD", "OFD", "HC", "AC", "FL", "TCD", "CRL")
DEFAULT_UNCALIBRATED_REASON = "no calibration applies to these points"


def _point(value: Any, name: str) -> tuple[float, float]:
    try:
        x, y = value
        point = (float(x), float(y))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an (x, y) pair of numbers, got {value!r}") from exc
    if not all(math.isfinite(v) for v in point):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return point


def _calibration_scale(calibration: Any) -> tuple[float, float]:
    sx = getattr(calibration, "mm_per_px_x", None)
    sy = getattr(calibration, "mm_per_px_y", None)
    for name, v in (("mm_per_px_x", sx), ("mm_per_px_y", sy)):
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"calibration.{name} must be a positive number, got {v!r}")
    return float(sx), float(sy)


def ellipse_axes_mm(
    semi_axes_px: tuple[float, float], angle_deg: float, mm_per_px_x: float, mm_per_px_y: float
) -> tuple[float, float]:
    """Semi-axes in mm (major first) of a pixel ellipse under an anisotropic pixel size (exact)."""
    a, b = semi_axes_px
    t = math.radians(angle_deg)
    c, s = math.cos(t), math.sin(t)
    # M = diag(sx, sy) @ R(t) @ diag(a, b); its singular values are the mm semi-axes.
    m11, m12 = mm_per_px_x * c * a, -mm_per_px_x * s * b
    m21, m22 = mm_per_px_y * s * a, mm_per_px_y * c * b
    frob2 = m11 * m11 + m12 * m12 + m21 * m21 + m22 * m22
    det = abs(m11 * m22 - m12 * m21)
    disc = math.sqrt(max(frob2 * frob2 - 4.0 * det * det, 0.0))
    s1 = math.sqrt((frob2 + disc) / 2.0)
    s2 = det / s1 if s1 > 0 else 0.0
    return s1, s2


@dataclass(frozen=True)
class Measurement:
    """A distance or ellipse caliper on one frame of one instance.

    Geometry is in original-image pixels, points ``(x=col, y=row)`` with pixel ``(r, c)`` covering
    ``[c, c+1] x [r, r+1]`` (its centre at ``(c + 0.5, r + 0.5)``, see :mod:`.geometry`). ``angle_deg`` is the direction of
    the first semi-axis ``a`` from the +x (column) axis towards +y (rows, i.e. clockwise on screen), the
    same convention as ``cv2.fitEllipse``. ``automatic_values`` keeps the geometry and values an
    automatic measurement had before the user edited it (``source == "edited"``).
    """

    measurement_id: str
    kind: str
    sop_instance_uid: str
    frame_index: int
    points_px: tuple[tuple[float, float], tuple[float, float]] | None = None
    center_px: tuple[float, float] | None = None
    semi_axes_px: tuple[float, float] | None = None
    angle_deg: float | None = None
    label: str | None = None
    source: str = "manual"
    automatic_values: Mapping[str, Any] | None = None
    calibration: Calibration | None = None
    uncalibrated_reason: str | None = None
    _scale: tuple[float, float] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.measurement_id, str) or not self.measurement_id:
            raise ValueError(f"measurement_id must be a non-empty string, got {self.measurement_id!r}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if not isinstance(self.sop_instance_uid, str):
            raise TypeError(f"sop_instance_uid must be a string, got {type(self.sop_instance_uid).__name__}")
        if (
            isinstance(self.frame_index, bool)
            or not isinstance(self.frame_index, int)
            or self.frame_index < 0
        ):
            raise ValueError(f"frame_index must be an int >= 0, got {self.frame_index!r}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        allowed = DISTANCE_LABELS if self.kind == "distance" else ELLIPSE_LABELS
        if self.label is not None and self.label not in allowed:
            raise ValueError(f"label for a {self.kind} must be None or one of {allowed}, got {self.label!r}")
        if self.kind == "distance":
            if self.points_px is None or len(self.points_px) != 2:
                raise ValueError(
                    f"points_px must hold two (x, y) points for a distance, got {self.points_px!r}"
                )
            set_(
                self,
                "points_px",
                (_point(self.points_px[0], "points_px[0]"), _point(self.points_px[1], "points_px[1]")),
            )
            if self.center_px is not None or self.semi_axes_px is not None or self.angle_deg is not None:
                raise ValueError("center_px, semi_axes_px and angle_deg must be None for a distance")
        else:
            if self.points_px is not None:
                raise ValueError("points_px must be None for an ellipse")
            set_(self, "center_px", _point(self.center_px, "center_px"))
            a, b = _point(self.semi_axes_px, "semi_axes_px")
            if a <= 0 or b <= 0:
                raise ValueError(f"semi_axes_px must both be > 0, got {self.semi_axes_px!r}")
            set_(self, "semi_axes_px", (a, b))
            try:
                angle = float(self.angle_deg)  # type: ignore[arg-type]
            except (TypeError, ValueError) as exc:
                raise TypeError(f"angle_deg must be a number, got {self.angle_deg!r}") from exc
            if not math.isfinite(angle):
                raise ValueError(f"angle_deg must be finite, got {self.angle_deg!r}")
            set_(self, "angle_deg", angle)
        if self.calibration is not None:
            set_(self, "_scale", _calibration_scale(self.calibration))
            if self.uncalibrated_reason is not None:
                raise ValueError("uncalibrated_reason must be None when a calibration is given")
        elif not self.uncalibrated_reason:
            set_(self, "uncalibrated_reason", DEFAULT_UNCALIBRATED_REASON)
        if self.automatic_values is not None:
            if not isinstance(self.automatic_values, Mapping):
                raise TypeError("automatic_values must be a mapping or None")
            set_(self, "automatic_values", dict(self.automatic_values))

    # -- computed values -------------------------------------------------------------------------
    @property
    def is_calibrated(self) -> bool:
        return self._scale is not None

    @property
    def length_px(self) -> float | None:
        """Distance length in pixels (None for an ellipse)."""
        if self.kind != "distance":
            return None
        (x1, y1), (x2, y2) = self.points_px  # type: ignore[misc]
        return math.hypot(x2 - x1, y2 - y1)

    @property
    def length_mm(self) -> float | None:
        """Distance length in mm, each pixel step scaled by its own axis (None if uncalibrated)."""
        if self.kind != "distance" or self._scale is None:
            return None
        (x1, y1), (x2, y2) = self.points_px  # type: ignore[misc]
        sx, sy = self._scale
        return math.hypot((x2 - x1) * sx, (y2 - y1) * sy)

    @property
    def axes_mm(self) -> tuple[float, float] | None:
        """Ellipse semi-axes in mm, major first (None for a distance or uncalibrated)."""
        if self.kind != "ellipse" or self._scale is None:
            return None
        return ellipse_axes_mm(self.semi_axes_px, self.angle_deg, *self._scale)  # type: ignore[arg-type]

    @property
    def perimeter_px(self) -> float | None:
        if self.kind != "ellipse":
            return None
        return ramanujan_perimeter(*self.semi_axes_px)  # type: ignore[misc]

    @property
    def perimeter_mm(self) -> float | None:
        axes = self.axes_mm
        return None if axes is None else ramanujan_perimeter(*axes)

    @property
    def area_px2(self) -> float | None:
        if self.kind != "ellipse":
            return None
        a, b = self.semi_axes_px  # type: ignore[misc]
        return math.pi * a * b

    @property
    def area_mm2(self) -> float | None:
        if self.kind != "ellipse" or self._scale is None:
            return None
        a, b = self.semi_axes_px  # type: ignore[misc]
        return math.pi * a * b * self._scale[0] * self._scale[1]

    @property
    def value_mm(self) -> float | None:
        """The primary value: length for a distance, perimeter (circumference) for an ellipse."""
        return self.length_mm if self.kind == "distance" else self.perimeter_mm

    @property
    def value_px(self) -> float:
        return self.length_px if self.kind == "distance" else self.perimeter_px  # type: ignore[return-value]

    def geometry(self) -> dict[str, Any]:
        """The geometry alone, JSON-ready (used for ``automatic_values`` snapshots)."""
        if self.kind == "distance":
            return {"points_px": [list(p) for p in self.points_px]}  # type: ignore[union-attr]
        return {
            "center_px": list(self.center_px),  # type: ignore[arg-type]
            "semi_axes_px": list(self.semi_axes_px),  # type: ignore[arg-type]
            "angle_deg": self.angle_deg,
        }

    def snapshot_values(self) -> dict[str, Any]:
        """Geometry plus the computed values, as kept in ``automatic_values`` after an edit."""
        snap = self.geometry()
        snap["value_px"] = self.value_px
        snap["value_mm"] = self.value_mm
        if self.kind == "ellipse":
            snap["area_mm2"] = self.area_mm2
        return snap

    def display_text(self) -> str:
        """Short on-screen label, e.g. ``"HC 175.3 mm"`` or ``"FL 212.0 px (uncalibrated)"``."""
        name = self.label or ("Distance" if self.kind == "distance" else "Ellipse")
        mark = {"automatic": " (auto)", "edited": " (edited)"}.get(self.source, "")
        if self.value_mm is not None:
            text = f"{name} {self.value_mm:.1f} mm"
            if self.kind == "ellipse":
                text += f", area {self.area_mm2 / 100.0:.1f} cm\u00b2"  # type: ignore[operator]
        else:
            text = f"{name} {self.value_px:.1f} px (uncalibrated)"
        return text + mark

    # -- persistence -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "measurement_id": self.measurement_id,
            "kind": self.kind,
            "sop_instance_uid": self.sop_instance_uid,
            "frame_index": self.frame_index,
            "label": self.label,
            "source": self.source,
            "automatic_values": None if self.automatic_values is None else dict(self.automatic_values),
            "calibration": None,
            "uncalibrated_reason": self.uncalibrated_reason,
        }
        d.update(self.geometry())
        if self.calibration is not None:
            c = self.calibration
            d["calibration"] = {
                "mm_per_px_x": float(c.mm_per_px_x),
                "mm_per_px_y": float(c.mm_per_px_y),
                "source": str(getattr(c, "source", "")),
                "region_index": getattr(c, "region_index", None),
            }
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Measurement:
        """Rebuild a measurement written by :meth:`to_dict`; raises ValueError/TypeError if malformed."""
        if not isinstance(data, Mapping):
            raise TypeError(f"measurement data must be a mapping, got {type(data).__name__}")
        try:
            kind = data["kind"]
            kwargs: dict[str, Any] = {
                "measurement_id": data["measurement_id"],
                "kind": kind,
                "sop_instance_uid": data["sop_instance_uid"],
                "frame_index": data["frame_index"],
                "label": data.get("label"),
                "source": data.get("source", "manual"),
                "automatic_values": data.get("automatic_values"),
                "uncalibrated_reason": data.get("uncalibrated_reason"),
            }
            if kind == "distance":
                kwargs["points_px"] = tuple(tuple(p) for p in data["points_px"])
            else:
                kwargs["center_px"] = tuple(data["center_px"])
                kwargs["semi_axes_px"] = tuple(data["semi_axes_px"])
                kwargs["angle_deg"] = data["angle_deg"]
        except KeyError as exc:
            raise ValueError(f"measurement data lacks the key {exc.args[0]!r}") from exc
        cal = data.get("calibration")
        if cal is not None:
            from fetalviewer.dicom.calibration import Calibration

            kwargs["calibration"] = Calibration(
                mm_per_px_x=float(cal["mm_per_px_x"]),
                mm_per_px_y=float(cal["mm_per_px_y"]),
                source=str(cal.get("source", "")),
                region_index=cal.get("region_index"),
            )
            kwargs["uncalibrated_reason"] = None
        return cls(**kwargs)


# -- factories ---------------------------------------------------------------------------------------
def _calibrate(
    regions: Sequence[Any] | None,
    points: list[tuple[float, float]],
    pixel_spacing_mm: tuple[float, float] | None,
) -> tuple[Any, str | None]:
    from fetalviewer.dicom.calibration import calibration_for_points

    result = calibration_for_points(tuple(regions or ()), points, pixel_spacing_mm)
    if result.calibration is None:
        return None, result.reason or DEFAULT_UNCALIBRATED_REASON
    return result.calibration, None


def ellipse_extreme_points(
    center_px: tuple[float, float], semi_axes_px: tuple[float, float], angle_deg: float
) -> list[tuple[float, float]]:
    """Leftmost, rightmost, top and bottom points of the ellipse's bounding box (axis-aligned).

    An ellipse lies inside an axis-aligned region box exactly when these four points do.
    """
    cx, cy = center_px
    a, b = semi_axes_px
    t = math.radians(angle_deg)
    half_w = math.hypot(a * math.cos(t), b * math.sin(t))
    half_h = math.hypot(a * math.sin(t), b * math.cos(t))
    return [(cx - half_w, cy), (cx + half_w, cy), (cx, cy - half_h), (cx, cy + half_h)]


def make_distance(
    sop_instance_uid: str,
    frame_index: int,
    points_px: Sequence[Sequence[float]],
    regions: Sequence[Any] | None,
    *,
    label: str | None = None,
    source: str = "manual",
    automatic_values: Mapping[str, Any] | None = None,
    measurement_id: str | None = None,
    pixel_spacing_mm: tuple[float, float] | None = None,
) -> Measurement:
    """A distance caliper, calibrated by the ultrasound region holding both end points (if any).

    ``pixel_spacing_mm`` (row, column) from PixelSpacing is used only when there are no regions; the
    rules are those of :func:`fetalviewer.dicom.calibration.calibration_for_points`.
    """
    p1 = _point(points_px[0], "points_px[0]")
    p2 = _point(points_px[1], "points_px[1]")
    calibration, reason = _calibrate(regions, [p1, p2], pixel_spacing_mm)
    return Measurement(
        measurement_id=measurement_id or uuid.uuid4().hex,
        kind="distance",
        sop_instance_uid=sop_instance_uid,
        frame_index=frame_index,
        points_px=(p1, p2),
        label=label,
        source=source,
        automatic_values=automatic_values,
        calibration=calibration,
        uncalibrated_reason=reason,
    )


def make_ellipse(
    sop_instance_uid: str,
    frame_index: int,
    center_px: Sequence[float],
    semi_axes_px: Sequence[float],
    angle_deg: float,
    regions: Sequence[Any] | None,
    *,
    label: str | None = None,
    source: str = "manual",
    automatic_values: Mapping[str, Any] | None = None,
    measurement_id: str | None = None,
    pixel_spacing_mm: tuple[float, float] | None = None,
) -> Measurement:
    """An ellipse caliper, calibrated by the region holding the whole ellipse (if any)."""
    center = _point(center_px, "center_px")
    axes = _point(semi_axes_px, "semi_axes_px")
    if axes[0] <= 0 or axes[1] <= 0:
        raise ValueError(f"semi_axes_px must both be > 0, got {semi_axes_px!r}")
    extremes = ellipse_extreme_points(center, axes, float(angle_deg))
    calibration, reason = _calibrate(regions, extremes, pixel_spacing_mm)
    return Measurement(
        measurement_id=measurement_id or uuid.uuid4().hex,
        kind="ellipse",
        sop_instance_uid=sop_instance_uid,
        frame_index=frame_index,
        center_px=center,
        semi_axes_px=axes,
        angle_deg=float(angle_deg),
        label=label,
        source=source,
        automatic_values=automatic_values,
        calibration=calibration,
        uncalibrated_reason=reason,
    )


def edit_measurement(
    measurement: Measurement,
    regions: Sequence[Any] | None,
    pixel_spacing_mm: tuple[float, float] | None = None,
    **geometry: Any,
) -> Measurement:
    """The measurement with new geometry (same id, label, instance and frame), recalibrated.

    An automatic measurement becomes ``"edited"`` and keeps its automatic geometry and values in
    ``automatic_values``; a manual one stays manual; an edited one keeps its first automatic values.
    """
    m = measurement
    if m.source == "automatic":
        source, auto = "edited", m.snapshot_values()
    else:
        source, auto = m.source, m.automatic_values
    common = dict(
        label=m.label,
        source=source,
        automatic_values=auto,
        measurement_id=m.measurement_id,
        pixel_spacing_mm=pixel_spacing_mm,
    )
    if m.kind == "distance":
        unknown = set(geometry) - {"points_px"}
        if unknown:
            raise ValueError(f"a distance takes only points_px, got {sorted(unknown)}")
        return make_distance(
            m.sop_instance_uid, m.frame_index, geometry.get("points_px", m.points_px), regions, **common
        )
    unknown = set(geometry) - {"center_px", "semi_axes_px", "angle_deg"}
    if unknown:
        raise ValueError(f"an ellipse takes only center_px, semi_axes_px, angle_deg, got {sorted(unknown)}")
    return make_ellipse(
        m.sop_instance_uid,
        m.frame_index,
        geometry.get("center_px", m.center_px),
        geometry.get("semi_axes_px", m.semi_axes_px),
        geometry.get("angle_deg", m.angle_deg),
        regions,
        **common,
    )
