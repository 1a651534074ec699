"""The exam record: what the sonographer measured, corrected, accepted and signed, per study.

One JSON file per StudyInstanceUID under ``user_dirs().data_dir / "exams"``, written atomically, with a
schema version. A file that cannot be read (not JSON, wrong shape, newer schema) is moved aside to
``<name>.corrupt-<UTC time>.json`` and a fresh record is returned whose ``load_problem`` says what
happened and where the old file went; it never stops the app.

Any change to a signed record clears the sign-off: a signature always covers what is on record.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fetalviewer.analysis.measurement import Measurement
from fetalviewer.atomic import write_text_atomic
from fetalviewer.paths import user_dirs

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_UID_RE = re.compile(r"^[0-9.]{1,64}$")


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_uid(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _check_frame(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"frame_index must be an int >= 0, got {value!r}")
    return value


@dataclass(frozen=True)
class PlaneCorrection:
    """The user replaced the model's plane label of one frame (``model_label`` may be None)."""

    sop_instance_uid: str
    frame_index: int
    model_label: str | None
    user_label: str
    corrected_at_utc: str = field(default_factory=_utc_now)

    def __post_init__(self) -> None:
        _check_uid(self.sop_instance_uid, "sop_instance_uid")
        _check_frame(self.frame_index)
        if not isinstance(self.user_label, str) or not self.user_label:
            raise ValueError(f"user_label must be a non-empty string, got {self.user_label!r}")
        if self.model_label is not None and not isinstance(self.model_label, str):
            raise TypeError("model_label must be a string or None")


@dataclass(frozen=True)
class AcceptedLabel:
    """The user confirmed the model's plane label of one frame."""

    sop_instance_uid: str
    frame_index: int
    label: str
    accepted_at_utc: str = field(default_factory=_utc_now)

    def __post_init__(self) -> None:
        _check_uid(self.sop_instance_uid, "sop_instance_uid")
        _check_frame(self.frame_index)
        if not isinstance(self.label, str) or not self.label:
            raise ValueError(f"label must be a non-empty string, got {self.label!r}")


@dataclass(frozen=True)
class SignOff:
    signed_by: str
    signed_at_utc: str = field(default_factory=_utc_now)

    def __post_init__(self) -> None:
        if not isinstance(self.signed_by, str) or not self.signed_by.strip():
            raise ValueError("signed_by must name the person signing")


@dataclass
class ExamRecord:
    """Everything the user added to one study. Mutate through the methods (they clear the sign-off)."""

    study_instance_uid: str
    measurements: list[Measurement] = field(default_factory=list)
    plane_corrections: list[PlaneCorrection] = field(default_factory=list)
    accepted_labels: list[AcceptedLabel] = field(default_factory=list)
    impression: str = ""
    sign_off: SignOff | None = None
    updated_at_utc: str | None = None
    #: Set by :func:`load_exam_record` when the stored file was unreadable (not saved).
    load_problem: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _check_uid(self.study_instance_uid, "study_instance_uid")
        for m in self.measurements:
            if not isinstance(m, Measurement):
                raise TypeError(f"measurements must hold Measurement objects, got {type(m).__name__}")
        if not isinstance(self.impression, str):
            raise TypeError("impression must be a string")

    # -- changes -----------------------------------------------------------------------------------
    def _changed(self) -> None:
        self.sign_off = None
        self.updated_at_utc = _utc_now()

    def measurement(self, measurement_id: str) -> Measurement | None:
        return next((m for m in self.measurements if m.measurement_id == measurement_id), None)

    def put_measurement(self, measurement: Measurement) -> None:
        """Add a measurement, or replace the one with the same ``measurement_id`` (an edit)."""
        if not isinstance(measurement, Measurement):
            raise TypeError(f"measurement must be a Measurement, got {type(measurement).__name__}")
        for i, m in enumerate(self.measurements):
            if m.measurement_id == measurement.measurement_id:
                self.measurements[i] = measurement
                break
        else:
            self.measurements.append(measurement)
        self._changed()

    def remove_measurement(self, measurement_id: str) -> bool:
        before = len(self.measurements)
        self.measurements = [m for m in self.measurements if m.measurement_id != measurement_id]
        removed = len(self.measurements) != before
        if removed:
            self._changed()
        return removed

    def _drop_frame_labels(self, sop_instance_uid: str, frame_index: int) -> None:
        key = (sop_instance_uid, frame_index)
        self.plane_corrections = [
            c for c in self.plane_corrections if (c.sop_instance_uid, c.frame_index) != key
        ]
        self.accepted_labels = [a for a in self.accepted_labels if (a.sop_instance_uid, a.frame_index) != key]

    def correct_plane(
        self, sop_instance_uid: str, frame_index: int, model_label: str | None, user_label: str
    ) -> PlaneCorrection:
        """Record the user's plane label for a frame (replaces an earlier correction or acceptance)."""
        correction = PlaneCorrection(sop_instance_uid, frame_index, model_label, user_label)
        self._drop_frame_labels(sop_instance_uid, frame_index)
        self.plane_corrections.append(correction)
        self._changed()
        return correction

    def accept_label(self, sop_instance_uid: str, frame_index: int, label: str) -> AcceptedLabel:
        accepted = AcceptedLabel(sop_instance_uid, frame_index, label)
        self._drop_frame_labels(sop_instance_uid, frame_index)
        self.accepted_labels.append(accepted)
        self._changed()
        return accepted

    def user_label(self, sop_instance_uid: str, frame_index: int) -> str | None:
        """The label the user set or confirmed for a frame, if any."""
        for c in self.plane_corrections:
            if (c.sop_instance_uid, c.frame_index) == (sop_instance_uid, frame_index):
                return c.user_label
        for a in self.accepted_labels:
            if (a.sop_instance_uid, a.frame_index) == (sop_instance_uid, frame_index):
                return a.label
        return None

    def set_impression(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError("impression must be a string")
        if text != self.impression:
            self.impression = text
            self._changed()

    def sign(self, signed_by: str) -> SignOff:
        self.sign_off = SignOff(signed_by)
        return self.sign_off

    # -- persistence -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "study_instance_uid": self.study_instance_uid,
            "measurements": [m.to_dict() for m in self.measurements],
            "plane_corrections": [vars(c).copy() for c in self.plane_corrections],
            "accepted_labels": [vars(a).copy() for a in self.accepted_labels],
            "impression": self.impression,
            "sign_off": None if self.sign_off is None else vars(self.sign_off).copy(),
            "updated_at_utc": self.updated_at_utc,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExamRecord:
        """Rebuild a record; raises ValueError/TypeError/KeyError on malformed data."""
        if not isinstance(data, Mapping):
            raise TypeError("the exam record is not a JSON object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {version!r} is not {SCHEMA_VERSION} (written by another version)"
            )
        sign = data.get("sign_off")
        return cls(
            study_instance_uid=data["study_instance_uid"],
            measurements=[Measurement.from_dict(m) for m in data.get("measurements", [])],
            plane_corrections=[PlaneCorrection(**c) for c in data.get("plane_corrections", [])],
            accepted_labels=[AcceptedLabel(**a) for a in data.get("accepted_labels", [])],
            impression=data.get("impression", ""),
            sign_off=None if sign is None else SignOff(**sign),
            updated_at_utc=data.get("updated_at_utc"),
        )


def exam_record_path(study_uid: str) -> Path:
    """Where the record of ``study_uid`` lives (UIDs that are not plain DICOM UIDs are hashed)."""
    _check_uid(study_uid, "study_uid")
    stem = (
        study_uid if _UID_RE.match(study_uid) else "h" + hashlib.sha256(study_uid.encode()).hexdigest()[:32]
    )
    return user_dirs().data_dir / "exams" / f"{stem}.json"


def load_exam_record(study_uid: str) -> ExamRecord:
    """The stored record of a study, or a new empty one; an unreadable file is moved aside."""
    path = exam_record_path(study_uid)
    if not path.exists():
        return ExamRecord(study_uid)
    try:
        record = ExamRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
        if record.study_instance_uid != study_uid:
            raise ValueError(f"it belongs to study {record.study_instance_uid!r}")
        return record
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        aside = path.with_name(f"{path.stem}.corrupt-{stamp}.json")
        try:
            path.replace(aside)
            where = f"moved aside to {aside}"
        except OSError as move_exc:
            where = f"could not be moved aside ({move_exc})"
        problem = f"exam record {path} was unreadable ({exc}); {where}; starting a new record"
        log.warning("%s", problem)
        record = ExamRecord(study_uid)
        record.load_problem = problem
        return record


def save_exam_record(record: ExamRecord) -> Path:
    """Write the record atomically as JSON and return its path."""
    if not isinstance(record, ExamRecord):
        raise TypeError(f"record must be an ExamRecord, got {type(record).__name__}")
    path = exam_record_path(record.study_instance_uid)
    write_text_atomic(path, json.dumps(record.to_dict(), indent=2, sort_keys=True))
    return path
