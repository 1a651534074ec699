"""Exam record: changes, sign-off, atomic JSON round trip, unreadable files moved aside."""

from __future__ import annotations

import json

import pytest

from fetalviewer.analysis.measurement import make_distance, make_ellipse
from fetalviewer.exam.record import (
    SCHEMA_VERSION,
    ExamRecord,
    exam_record_path,
    load_exam_record,
    save_exam_record,
)
from fetalviewer.paths import user_dirs

STUDY = "1.2.826.0.1.3680043.8.498.1"


def _filled_record() -> ExamRecord:
    rec = ExamRecord(STUDY)
    rec.put_measurement(make_distance("1.2.3", 0, ((0, 0), (30, 40)), None, label="FL"))
    rec.put_measurement(
        make_ellipse("1.2.3", 5, (100, 80), (40, 30), 12.0, None, label="HC", source="automatic")
    )
    rec.correct_plane("1.2.3", 5, "abdomen", "brain")
    rec.accept_label("1.2.3", 7, "heart")
    rec.set_impression("Biometry consistent with dates.")
    return rec


def test_missing_file_gives_empty_record():
    rec = load_exam_record(STUDY)
    assert rec.study_instance_uid == STUDY
    assert rec.measurements == [] and rec.sign_off is None and rec.load_problem is None


def test_round_trip_is_lossless():
    rec = _filled_record()
    rec.sign("Dr A")
    path = save_exam_record(rec)
    assert path == user_dirs().data_dir / "exams" / f"{STUDY}.json"
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION
    back = load_exam_record(STUDY)
    assert back == rec
    assert back.sign_off.signed_by == "Dr A"
    assert back.user_label("1.2.3", 5) == "brain"
    assert back.user_label("1.2.3", 7) == "heart"
    assert back.user_label("1.2.3", 8) is None
    assert [m.label for m in back.measurements] == ["FL", "HC"]
    assert back.measurements[0].length_px == pytest.approx(50.0)


def test_changes_clear_sign_off_and_replace_by_id():
    rec = _filled_record()
    rec.sign("Dr A")
    fl = rec.measurements[0]
    moved = make_distance("1.2.3", 0, ((0, 0), (60, 80)), None, label="FL", measurement_id=fl.measurement_id)
    rec.put_measurement(moved)
    assert rec.sign_off is None
    assert len(rec.measurements) == 2 and rec.measurement(fl.measurement_id).length_px == pytest.approx(100.0)
    # A later correction replaces the earlier acceptance of the same frame.
    rec.correct_plane("1.2.3", 7, "heart", "spine")
    assert rec.user_label("1.2.3", 7) == "spine"
    assert len(rec.accepted_labels) == 0
    assert rec.remove_measurement(fl.measurement_id) is True
    assert rec.remove_measurement("nope") is False
    with pytest.raises(TypeError, match="measurement"):
        rec.put_measurement("x")
    with pytest.raises(ValueError, match="signed_by"):
        rec.sign("  ")


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[1, 2]",
        json.dumps({"schema_version": 99, "study_instance_uid": STUDY}),
        json.dumps({"schema_version": SCHEMA_VERSION, "study_instance_uid": "9.9"}),
        json.dumps(
            {
                "schema_version": SCHEMA_VERSION,
                "study_instance_uid": STUDY,
                "measurements": [{"kind": "distance"}],
            }
        ),
    ],
)
def test_unreadable_file_is_moved_aside_and_reported(content):
    path = exam_record_path(STUDY)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    rec = load_exam_record(STUDY)
    assert rec.measurements == []
    assert rec.load_problem and str(path) in rec.load_problem and "moved aside" in rec.load_problem
    assert not path.exists()
    aside = list(path.parent.glob(f"{STUDY}.corrupt-*.json"))
    assert len(aside) == 1 and aside[0].read_text() == content
    save_exam_record(rec)  # the app goes on with a fresh record
    assert load_exam_record(STUDY).load_problem is None


def test_odd_uid_is_hashed_into_a_safe_name():
    path = exam_record_path("../../etc/passwd")
    assert path.parent == user_dirs().data_dir / "exams" and "/" not in path.name[:-5]
    with pytest.raises(ValueError, match="study_uid"):
        exam_record_path("")
