"""What a report says, as one Qt-free record (:class:`ReportContent`) that every writer renders.

:func:`fetalviewer.report.build.build_report_content` fills it from the loaded instances, the exam
record and the model's predictions. Every piece that cannot be computed honestly carries the text
``"not available: <reason>"`` instead of a value (:func:`not_available`); writers print it as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

AI_STATEMENT = (
    "AI output is decision support, not a diagnosis. Every model value in this report must be checked "
    "by a qualified sonographer or physician."
)
NOT_AVAILABLE_PREFIX = "not available: "
MODEL_NOT_AVAILABLE_PREFIX = "model not available: "


def not_available(reason: str) -> str:
    """The one wording for a missing value: ``"not available: <reason>"``."""
    reason = str(reason).strip() or "no reason recorded"
    return reason if reason.startswith(NOT_AVAILABLE_PREFIX) else NOT_AVAILABLE_PREFIX + reason


def model_not_available(reason: str) -> str:
    """The wording for anything the model should have produced: ``"model not available: <reason>"``."""
    reason = str(reason).strip() or "no reason recorded"
    return reason if reason.startswith(MODEL_NOT_AVAILABLE_PREFIX) else MODEL_NOT_AVAILABLE_PREFIX + reason


def is_not_available(text: str) -> bool:
    return str(text).startswith((NOT_AVAILABLE_PREFIX, MODEL_NOT_AVAILABLE_PREFIX))


def _check_text(value: Any, name: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")


@dataclass(frozen=True)
class ExamHeader:
    """Header block: field title -> text, in display order (already de-identified when asked)."""

    fields: tuple[tuple[str, str], ...]
    study_instance_uid: str
    deidentified: bool = False

    def __post_init__(self) -> None:
        for title, value in self.fields:
            _check_text(title, "ExamHeader field title")
            _check_text(value, f"ExamHeader field {title!r}")

    def value(self, title: str) -> str:
        return dict(self.fields).get(title, not_available(f"no field {title!r}"))


@dataclass(frozen=True)
class FrameOverlay:
    """What to burn into one frame: plane label text, contour polygons and measurements.

    Geometry is in original image coordinates (x=col, y=row, pixel centres at +0.5; see
    :mod:`fetalviewer.analysis.geometry`). ``measurements`` are
    :class:`~fetalviewer.analysis.measurement.Measurement` objects (distance calipers or ellipses).
    """

    plane_text: str | None = None
    contours_px: tuple[tuple[tuple[float, float], ...], ...] = ()
    measurements: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.plane_text is not None:
            _check_text(self.plane_text, "plane_text")
        contours = []
        for i, contour in enumerate(self.contours_px):
            points = tuple((float(x), float(y)) for x, y in contour)
            if len(points) < 3:
                raise ValueError(f"contours_px[{i}] needs at least 3 points, got {len(points)}")
            contours.append(points)
        object.__setattr__(self, "contours_px", tuple(contours))
        object.__setattr__(self, "measurements", tuple(self.measurements))


@dataclass(frozen=True)
class KeyFrame:
    """One frame shown in the report: an instance (a ``CineLoop``), a frame index, a title, overlays."""

    instance: Any
    frame_index: int
    title: str
    overlay: FrameOverlay = field(default_factory=FrameOverlay)

    def __post_init__(self) -> None:
        n_frames = int(getattr(self.instance, "n_frames", 0))
        if isinstance(self.frame_index, bool) or not isinstance(self.frame_index, int):
            raise TypeError(f"frame_index must be an int, got {self.frame_index!r}")
        if not 0 <= self.frame_index < n_frames:
            raise ValueError(f"frame_index {self.frame_index} is outside 0..{n_frames - 1}")
        _check_text(self.title, "title")

    @property
    def sop_instance_uid(self) -> str:
        return str(self.instance.sop_instance_uid)


@dataclass(frozen=True)
class ChecklistRow:
    plane: str
    required: bool
    status: str  # "found", "missing" or "not available: ..."
    best_frame: str
    model_prob: str
    user_correction: str


@dataclass(frozen=True)
class MeasurementRow:
    """One line of the measurement table; texts ready to print, numbers kept for SR/CSV."""

    measurement_id: str
    label: str
    kind: str
    value_text: str
    value_mm: float | None
    value_px: float
    source: str  # manual | automatic | edited
    automatic_value_text: str
    calibration_text: str
    ga_text: str
    ga_days: float | None
    ga_method: str
    ga_citation: str
    sop_instance_uid: str
    frame_index: int


@dataclass(frozen=True)
class ParameterRow:
    """One biometry parameter of the exam (measurements of one label folded by the analysis rules)."""

    label: str
    value_text: str
    value_mm: float
    source: str
    ga_texts: tuple[str, ...]
    citations: tuple[str, ...]


@dataclass(frozen=True)
class SrComparisonRow:
    """A parameter of an OB SR read from a file (a scanner's own report) beside the app's value."""

    label: str
    sr_value_mm: float
    app_value_mm: float | None
    difference_mm: float | None
    sr_ga_text: str
    source: str


@dataclass(frozen=True)
class ModelCard:
    available: bool
    fields: tuple[tuple[str, str], ...]
    evaluation: tuple[str, ...]


@dataclass(frozen=True)
class FramePredictionRow:
    """One model read-out of one frame (for tables)."""

    sop_instance_uid: str
    frame_index: int
    top_plane: str
    top_prob_0_1: float
    plane_probs: dict[str, float]
    ga_days: int | None
    ga_text: str


@dataclass(frozen=True)
class ReportContent:
    """Everything a report shows; built once, rendered by the PDF/SR/SC/video/table writers."""

    title: str
    header: ExamHeader
    key_frames: tuple[KeyFrame, ...]
    checklist: tuple[ChecklistRow, ...]
    checklist_note: str
    measurements: tuple[MeasurementRow, ...]
    parameters: tuple[ParameterRow, ...]
    combined_ga: str
    efw: str
    model_ga: str
    discordance: str
    chd_flags: tuple[str, ...]
    model_card: ModelCard
    impression: str
    sign_off: str
    generated_at_utc: str
    app_version: str
    predictions: tuple[FramePredictionRow, ...] = ()
    problems: tuple[str, ...] = ()
    sr_comparison: tuple[SrComparisonRow, ...] = ()
    signed_by: str | None = None  # the person who signed the exam record (None: not signed)
    algorithm: tuple[str, ...] | None = None  # (name, version, "weights sha256 ...") of the model that ran (TID 4019)
    biometry_algorithm: tuple[str, str] | None = None  # (name, version) behind automatic measurements
    ai_statement: str = AI_STATEMENT

    def __post_init__(self) -> None:
        for name in (
            "title",
            "checklist_note",
            "combined_ga",
            "efw",
            "model_ga",
            "discordance",
            "impression",
        ):
            _check_text(getattr(self, name), name)
        for name in (
            "key_frames",
            "checklist",
            "measurements",
            "parameters",
            "chd_flags",
            "predictions",
            "problems",
        ):
            value = getattr(self, name)
            if not isinstance(value, Sequence) or isinstance(value, str):
                raise TypeError(f"{name} must be a sequence")
            object.__setattr__(self, name, tuple(value))
