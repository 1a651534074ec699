"""One caliper measurement on one frame: a :class:`DistanceMeasurement` or an :class:`EllipseMeasurement`,
in original image pixels.

A measurement keeps its geometry in the pixels of the original frame (points are ``(x=col, y=row)``) and
the :class:`~fetalviewer.dicom.calibration.Calibration` that applies to it (or ``None`` with the reason).
Values in mm are computed, never stored, so an edit can never leave a stale number behind.

Anisotropic calibration (``mm_per_px_x != mm_per_px_y``, legal in the DICOM Sequence of Ultrasound
Regions, PS3.3 C.8.5.5) is handled by mapping the geometry into mm coordinates before measuring: a
distance is ``hypot(dx * sx, dy * sy)``; an ellipse maps to an ellipse under ``diag(sx, sy)``
(:meth:`fetalviewer.analysis.geometry.Ellipse.transformed`, exact), whose perimeter is Ramanujan's
second approximation.

The kind and the source of a measurement are enums (:class:`MeasurementKind`, :class:`MeasurementSource`)
whose values are the strings written in exam records, so records written before these classes load.
"""

from __future__ import annotations

import enum
import math
import numbers
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from fetalviewer.analysis.geometry import Ellipse, ramanujan_perimeter

if TYPE_CHECKING:  # pragma: no cover
    from fetalviewer.dicom.calibration import Calibration


class _TextEnum(str, enum.Enum):
    """A str enum that prints and formats as its value (``enum.StrEnum`` needs Python 3.11)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    def __hash__(self) -> int:  # equal to its value, so it must hash like it (dict and set look-ups)
        return hash(str(self.value))


class MeasurementKind(_TextEnum):
    DISTANCE = "distance"
    ELLIPSE = "ellipse"


class MeasurementSource(_TextEnum):
    """Who placed a caliper: the user, the automatic biometry, or the user moving an automatic one."""

    MANUAL = "manual"
    AUTOMATIC = "automatic"
    EDITED = "edited"

    @property
    def from_algorithm(self) -> bool:
        """True when an algorithm placed the caliper first (automatic, or edited from automatic)."""
        return self is not MeasurementSource.MANUAL


DISTANCE_LABELS = ("BPD", "OFD", "FL", "TCD", "CRL")
ELLIPSE_LABELS = ("HC", "AC")
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


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """What every caliper has: identity, the frame it lies on, label, source, calibration.

    Geometry is in original-image pixels, points ``(x=col, y=row)`` with pixel ``(r, c)`` covering
    ``[c, c+1] x [r, r+1]`` (its centre at ``(c + 0.5, r + 0.5)``, see :mod:`.geometry`).
    ``automatic_values`` keeps the geometry and values an automatic measurement had before the user
    edited it (``source == EDITED``). Build one with :func:`make_distance` / :func:`make_ellipse`
    (which calibrate by the ultrasound regions) or the subclasses directly.
    """

    kind: ClassVar[MeasurementKind]
    labels: ClassVar[tuple[str, ...]] = ()

    measurement_id: str
    sop_instance_uid: str
    frame_index: int
    label: str | None = None
    source: MeasurementSource = MeasurementSource.MANUAL
    automatic_values: Mapping[str, Any] | None = None
    calibration: Calibration | None = None
    uncalibrated_reason: str | None = None
    _scale: tuple[float, float] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self) is Measurement:
            raise TypeError("Measurement is abstract: use DistanceMeasurement or EllipseMeasurement")
        set_ = object.__setattr__
        if not isinstance(self.measurement_id, str) or not self.measurement_id:
            raise ValueError(f"measurement_id must be a non-empty string, got {self.measurement_id!r}")
        if not isinstance(self.sop_instance_uid, str):
            raise TypeError(f"sop_instance_uid must be a string, got {type(self.sop_instance_uid).__name__}")
        if isinstance(self.frame_index, bool) or not isinstance(self.frame_index, int) or self.frame_index < 0:
            raise ValueError(f"frame_index must be an int >= 0, got {self.frame_index!r}")
        try:
            set_(self, "source", MeasurementSource(self.source))
        except ValueError as exc:
            choices = tuple(s.value for s in MeasurementSource)
            raise ValueError(f"source must be one of {choices}, got {self.source!r}") from exc
        if self.label is not None and self.label not in self.labels:
            raise ValueError(f"label for a {self.kind} must be None or one of {self.labels}, got {self.label!r}")
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

    # -- what each kind supplies -----------------------------------------------------------------
    @property
    def value_px(self) -> float:
        """The primary value in pixels: length for a distance, perimeter (circumference) for an ellipse."""
        raise NotImplementedError

    @property
    def value_mm(self) -> float | None:
        """The primary value in mm (None when uncalibrated)."""
        raise NotImplementedError

    def geometry(self) -> dict[str, Any]:
        """The geometry alone, JSON-ready (also the keyword arguments of :func:`edit_measurement`)."""
        raise NotImplementedError

    def _extra_values(self) -> dict[str, Any]:
        return {}

    # -- common ----------------------------------------------------------------------------------
    @property
    def is_calibrated(self) -> bool:
        return self._scale is not None

    def snapshot_values(self) -> dict[str, Any]:
        """Geometry plus the computed values, as kept in ``automatic_values`` after an edit."""
        return {**self.geometry(), "value_px": self.value_px, "value_mm": self.value_mm, **self._extra_values()}

    def display_text(self) -> str:
        """Short on-screen label, e.g. ``"HC 175.3 mm"`` or ``"FL 212.0 px (uncalibrated)"``."""
        name = self.label or self.kind.value.capitalize()
        mark = {MeasurementSource.AUTOMATIC: " (auto)", MeasurementSource.EDITED: " (edited)"}.get(self.source, "")
        if self.value_mm is None:
            return f"{name} {self.value_px:.1f} px (uncalibrated){mark}"
        return f"{name} {self.value_mm:.1f} mm{self._extra_text()}{mark}"

    def _extra_text(self) -> str:
        return ""

    # -- persistence (the exam record's format) ----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "measurement_id": self.measurement_id,
            "kind": self.kind.value,
            "sop_instance_uid": self.sop_instance_uid,
            "frame_index": self.frame_index,
            "label": self.label,
            "source": self.source.value,
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

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Measurement:
        """Rebuild a measurement written by :meth:`to_dict`; raises ValueError/TypeError if malformed."""
        if not isinstance(data, Mapping):
            raise TypeError(f"measurement data must be a mapping, got {type(data).__name__}")
        try:
            kind = MeasurementKind(data["kind"])
        except KeyError as exc:
            raise ValueError("measurement data lacks the key 'kind'") from exc
        except ValueError as exc:
            choices = tuple(k.value for k in MeasurementKind)
            raise ValueError(f"kind must be one of {choices}, got {data['kind']!r}") from exc
        try:
            kwargs: dict[str, Any] = {
                "measurement_id": data["measurement_id"],
                "sop_instance_uid": data["sop_instance_uid"],
                "frame_index": data["frame_index"],
                "label": data.get("label"),
                "source": data.get("source", MeasurementSource.MANUAL),
                "automatic_values": data.get("automatic_values"),
                "uncalibrated_reason": data.get("uncalibrated_reason"),
            }
            if kind is MeasurementKind.DISTANCE:
                cls: type[Measurement] = DistanceMeasurement
                kwargs["points_px"] = tuple(tuple(p) for p in data["points_px"])
            else:
                cls = EllipseMeasurement
                kwargs["ellipse"] = _ellipse(data["center_px"], data["semi_axes_px"], data["angle_deg"])
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


@dataclass(frozen=True, kw_only=True)
class DistanceMeasurement(Measurement):
    """A straight caliper between two points (BPD, OFD, FL, TCD, CRL)."""

    kind: ClassVar[MeasurementKind] = MeasurementKind.DISTANCE
    labels: ClassVar[tuple[str, ...]] = DISTANCE_LABELS

    points_px: tuple[tuple[float, float], tuple[float, float]]

    def __post_init__(self) -> None:
        if self.points_px is None or len(self.points_px) != 2:
            raise ValueError(f"points_px must hold two (x, y) points for a distance, got {self.points_px!r}")
        points = (_point(self.points_px[0], "points_px[0]"), _point(self.points_px[1], "points_px[1]"))
        object.__setattr__(self, "points_px", points)
        super().__post_init__()

    @property
    def length_px(self) -> float:
        (x1, y1), (x2, y2) = self.points_px
        return math.hypot(x2 - x1, y2 - y1)

    @property
    def length_mm(self) -> float | None:
        """Length in mm, each pixel step scaled by its own axis (None if uncalibrated)."""
        if self._scale is None:
            return None
        (x1, y1), (x2, y2) = self.points_px
        sx, sy = self._scale
        return math.hypot((x2 - x1) * sx, (y2 - y1) * sy)

    @property
    def value_px(self) -> float:
        return self.length_px

    @property
    def value_mm(self) -> float | None:
        return self.length_mm

    def geometry(self) -> dict[str, Any]:
        return {"points_px": [list(p) for p in self.points_px]}


@dataclass(frozen=True, kw_only=True)
class EllipseMeasurement(Measurement):
    """An ellipse caliper (HC, AC) holding a :class:`~fetalviewer.analysis.geometry.Ellipse`.

    The ellipse's ``angle_deg`` is the direction of its major semi-axis from +x (columns) towards +y
    (rows, i.e. clockwise on screen), the same convention as ``cv2.fitEllipse``."""

    kind: ClassVar[MeasurementKind] = MeasurementKind.ELLIPSE
    labels: ClassVar[tuple[str, ...]] = ELLIPSE_LABELS

    ellipse: Ellipse

    def __post_init__(self) -> None:
        if not isinstance(self.ellipse, Ellipse):
            raise TypeError(f"ellipse must be an Ellipse, got {type(self.ellipse).__name__}")
        super().__post_init__()

    @property
    def center_px(self) -> tuple[float, float]:
        return self.ellipse.center_px

    @property
    def semi_axes_px(self) -> tuple[float, float]:
        return self.ellipse.semi_axes_px

    @property
    def angle_deg(self) -> float:
        return self.ellipse.angle_deg

    @property
    def axes_mm(self) -> tuple[float, float] | None:
        """Semi-axes in mm, major first (None if uncalibrated)."""
        if self._scale is None:
            return None
        return self.ellipse.transformed(*self._scale).semi_axes_px

    @property
    def perimeter_px(self) -> float:
        return self.ellipse.perimeter_px

    @property
    def perimeter_mm(self) -> float | None:
        axes = self.axes_mm
        return None if axes is None else ramanujan_perimeter(*axes)

    @property
    def area_px2(self) -> float:
        return self.ellipse.area_px2

    @property
    def area_mm2(self) -> float | None:
        return None if self._scale is None else self.ellipse.area_px2 * self._scale[0] * self._scale[1]

    @property
    def value_px(self) -> float:
        return self.perimeter_px

    @property
    def value_mm(self) -> float | None:
        return self.perimeter_mm

    def geometry(self) -> dict[str, Any]:
        return self.ellipse.to_dict()

    def _extra_values(self) -> dict[str, Any]:
        return {"area_mm2": self.area_mm2}

    def _extra_text(self) -> str:
        return f", area {self.area_mm2 / 100.0:.1f} cm\u00b2"  # type: ignore[operator]


# -- factories ---------------------------------------------------------------------------------------
def _ellipse(center_px: Any, semi_axes_px: Any, angle_deg: Any) -> Ellipse:
    """An :class:`Ellipse`, each bad argument named."""
    center = _point(center_px, "center_px")
    a, b = _point(semi_axes_px, "semi_axes_px")
    if a <= 0 or b <= 0:
        raise ValueError(f"semi_axes_px must both be > 0, got {semi_axes_px!r}")
    if isinstance(angle_deg, bool) or not isinstance(angle_deg, numbers.Real):
        raise TypeError(f"angle_deg must be a number, got {angle_deg!r}")
    if not math.isfinite(angle_deg):
        raise ValueError(f"angle_deg must be finite, got {angle_deg!r}")
    return Ellipse(center, (a, b), float(angle_deg))


def _calibrate(
    regions: Sequence[Any] | None,
    points: Sequence[tuple[float, float]],
    pixel_spacing_mm: tuple[float, float] | None,
) -> tuple[Any, str | None]:
    from fetalviewer.dicom.calibration import calibration_for_points

    result = calibration_for_points(tuple(regions or ()), list(points), pixel_spacing_mm)
    if result.calibration is None:
        return None, result.reason or DEFAULT_UNCALIBRATED_REASON
    return result.calibration, None


def make_distance(
    sop_instance_uid: str,
    frame_index: int,
    points_px: Sequence[Sequence[float]],
    regions: Sequence[Any] | None,
    *,
    label: str | None = None,
    source: MeasurementSource | str = MeasurementSource.MANUAL,
    automatic_values: Mapping[str, Any] | None = None,
    measurement_id: str | None = None,
    pixel_spacing_mm: tuple[float, float] | None = None,
) -> DistanceMeasurement:
    """A distance caliper, calibrated by the ultrasound region holding both end points (if any).

    ``pixel_spacing_mm`` (row, column) from PixelSpacing is used only when there are no regions; the
    rules are those of :func:`fetalviewer.dicom.calibration.calibration_for_points`.
    """
    p1 = _point(points_px[0], "points_px[0]")
    p2 = _point(points_px[1], "points_px[1]")
    calibration, reason = _calibrate(regions, [p1, p2], pixel_spacing_mm)
    return DistanceMeasurement(
        measurement_id=measurement_id or uuid.uuid4().hex, sop_instance_uid=sop_instance_uid,
        frame_index=frame_index, points_px=(p1, p2), label=label, source=source,
        automatic_values=automatic_values, calibration=calibration, uncalibrated_reason=reason,
    )  # fmt: skip


def make_ellipse(
    sop_instance_uid: str,
    frame_index: int,
    center_px: Sequence[float],
    semi_axes_px: Sequence[float],
    angle_deg: float,
    regions: Sequence[Any] | None,
    *,
    label: str | None = None,
    source: MeasurementSource | str = MeasurementSource.MANUAL,
    automatic_values: Mapping[str, Any] | None = None,
    measurement_id: str | None = None,
    pixel_spacing_mm: tuple[float, float] | None = None,
) -> EllipseMeasurement:
    """An ellipse caliper, calibrated by the region holding the whole ellipse (if any)."""
    ellipse = _ellipse(center_px, semi_axes_px, angle_deg)
    calibration, reason = _calibrate(regions, ellipse.bounding_points(), pixel_spacing_mm)
    return EllipseMeasurement(
        measurement_id=measurement_id or uuid.uuid4().hex, sop_instance_uid=sop_instance_uid,
        frame_index=frame_index, ellipse=ellipse, label=label, source=source,
        automatic_values=automatic_values, calibration=calibration, uncalibrated_reason=reason,
    )  # fmt: skip


def edit_measurement(
    measurement: Measurement,
    regions: Sequence[Any] | None,
    pixel_spacing_mm: tuple[float, float] | None = None,
    **geometry: Any,
) -> Measurement:
    """The measurement with new geometry (same id, label, instance and frame), recalibrated.

    An automatic measurement becomes ``EDITED`` and keeps its automatic geometry and values in
    ``automatic_values``; a manual one stays manual; an edited one keeps its first automatic values.
    """
    m = measurement
    unknown = set(geometry) - set(m.geometry())
    if unknown:
        raise ValueError(f"a {m.kind} takes only {', '.join(m.geometry())}, got {sorted(unknown)}")
    if m.source is MeasurementSource.AUTOMATIC:
        source, auto = MeasurementSource.EDITED, m.snapshot_values()
    else:
        source, auto = m.source, m.automatic_values
    common = dict(label=m.label, source=source, automatic_values=auto, measurement_id=m.measurement_id,
                  pixel_spacing_mm=pixel_spacing_mm)  # fmt: skip
    if isinstance(m, DistanceMeasurement):
        return make_distance(
            m.sop_instance_uid, m.frame_index, geometry.get("points_px", m.points_px), regions, **common
        )
    assert isinstance(m, EllipseMeasurement)
    return make_ellipse(
        m.sop_instance_uid, m.frame_index, geometry.get("center_px", m.center_px),
        geometry.get("semi_axes_px", m.semi_axes_px), geometry.get("angle_deg", m.angle_deg), regions, **common,
    )  # fmt: skip
