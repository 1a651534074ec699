"""Report content: the builder fills every section from (instances, exam record, predictions) and says
"not available: <reason>" for what it cannot compute. Also holds the sample exam the other report
tests use."""

from __future__ import annotations

import pytest
from pydicom.data import get_testdata_file

from fetalviewer.analysis.measurement import make_distance, make_ellipse
from fetalviewer.dicom import open_instance
from fetalviewer.exam.record import ExamRecord
from fetalviewer.model.planes import PLANE_CLASSES
from fetalviewer.model.results import FramePrediction, ModelInfo
from fetalviewer.report.build import build_report_content
from fetalviewer.report.content import AI_STATEMENT, FrameOverlay, KeyFrame, is_not_available


def sample_exam(name: str = "OBXXXX1A.dcm", with_model: bool = True):
    """(instance, record, predictions, model_info) of a small exam on a real vendor file."""
    loop = open_instance(get_testdata_file(name))
    uid = loop.sop_instance_uid
    record = ExamRecord(loop.study_instance_uid)
    record.put_measurement(
        make_distance(
            uid, 0, ((300.5, 250.5), (470.5, 300.5)), loop.regions, label="BPD", measurement_id="bpd"
        )
    )
    record.put_measurement(
        make_ellipse(uid, 0, (450, 300), (130, 95), 20, loop.regions, label="HC", source="automatic",
                     measurement_id="hc")
    )  # fmt: skip
    record.put_measurement(
        make_distance(uid, 0, ((200.5, 400.5), (330.5, 420.5)), loop.regions, label="FL", measurement_id="fl")
    )
    record.correct_plane(uid, 0, "heart", "brain")
    record.set_impression("Single live fetus; biometry consistent with dates.")
    if not with_model:
        return loop, record, {}, None
    probs = dict.fromkeys(PLANE_CLASSES, 0.01)
    probs["brain"] = 0.92
    prediction = FramePrediction(
        source=str(loop.path), frame_index=0, plane_probs=probs, top_plane="brain", top_prob_0_1=0.92,
        ga_days=150, pixel_spacing_mm=0.2623,
    )  # fmt: skip
    info = ModelInfo(
        weights_path="/weights/FetalCLIP_weights.pt", weights_size_bytes=1_710_766_661,
        weights_sha256="ab" * 32, config_name="FetalCLIP_config", device="cpu", dtype="float32",
    )  # fmt: skip
    return loop, record, {uid: [prediction]}, info


def test_content_from_sample_exam():
    loop, record, predictions, info = sample_exam()
    content = build_report_content([loop], record, predictions, model_info=info)
    assert content.header.value("Patient ID") == "11-05-25-142825"
    assert content.header.value("Study date") == "2011-05-25 14:28"
    assert is_not_available(content.header.value("Birth date"))
    rows = {r.label: r for r in content.measurements}
    assert set(rows) == {"BPD", "HC", "FL"}
    # BPD: 170 x 50 px at 0.2623 mm/px; Hadlock 1984 BPD equation in the GA column with its citation.
    assert rows["BPD"].value_mm == pytest.approx(
        ((170 * 0.26228788) ** 2 + (50 * 0.26228788) ** 2) ** 0.5, rel=1e-4
    )
    assert "Hadlock 1984 (BPD)" in rows["BPD"].ga_text and "Radiology 1984" in rows["BPD"].ga_citation
    assert rows["HC"].source == "automatic"
    assert content.combined_ga.startswith("20w") and "BPD+HC+FL" in content.combined_ga
    assert is_not_available(content.efw) and "AC" in content.efw
    assert content.model_ga.startswith("21w 3d")
    assert content.discordance.startswith("concordant")
    brain = next(c for c in content.checklist if c.plane == "Brain")
    assert brain.status == "found (user label)" and "Thorax / heart -> Brain" in brain.user_correction
    assert [kf.frame_index for kf in content.key_frames] == [0]
    assert content.key_frames[0].overlay.plane_text == "Brain (user)"
    assert len(content.key_frames[0].overlay.measurements) == 3
    assert is_not_available(content.chd_flags[0]) and "train-head chd" in content.chd_flags[0]
    assert dict(content.model_card.fields)["SHA-256"] == "ab" * 32
    assert any("0.9727" in fact for fact in content.model_card.evaluation)
    assert content.ai_statement == AI_STATEMENT and content.sign_off == "not signed"


def test_content_without_model_or_record_says_why():
    loop, _, _, _ = sample_exam(with_model=False)
    content = build_report_content([loop], None, None, model_unavailable_reason="no weights configured")
    assert content.measurements == ()
    assert is_not_available(content.combined_ga)
    assert "no weights configured" in content.model_ga
    assert all(is_not_available(c.status) for c in content.checklist)
    assert not content.model_card.available and "no weights configured" in content.model_card.fields[0][1]
    assert [(kf.frame_index, kf.title.endswith("overview")) for kf in content.key_frames] == [(0, True)]


def test_deidentified_header_and_discordance():
    loop, record, predictions, info = sample_exam()
    uid = loop.sop_instance_uid
    far = {uid: [FramePrediction(**{**predictions[uid][0].to_dict(), "ga_days": 200, "notes": ()})]}
    content = build_report_content([loop], record, far, model_info=info, deidentified=True)
    assert content.header.deidentified
    assert all(value.startswith("removed") for title, value in content.header.fields[:8])
    assert content.header.value("Device") == "Philips Medical Systems CX50"
    assert content.discordance.startswith("DISCORDANT")


def test_validation_names_the_argument():
    loop, *_ = sample_exam(with_model=False)
    with pytest.raises(ValueError, match="frame_index 3"):
        KeyFrame(loop, 3, "x")
    with pytest.raises(ValueError, match="contours_px"):
        FrameOverlay(contours_px=(((0, 0), (1, 1)),))
    with pytest.raises(ValueError, match="instances"):
        build_report_content([], None)


def test_deidentified_content_withholds_paths():
    loop, record, predictions, info = sample_exam()
    problems = ["/data/Smith_Jane/scan7.dcm: truncated"]
    content = build_report_content(
        [loop], record, predictions, model_info=info, deidentified=True, problems=problems
    )
    assert content.problems == ("1 problem(s) while loading; file paths withheld in a de-identified export",)
    assert dict(content.model_card.fields)["Weights file"] == "FetalCLIP_weights.pt"
    plain = build_report_content([loop], record, predictions, model_info=info, problems=problems)
    assert plain.problems == tuple(problems)
    assert dict(plain.model_card.fields)["Weights file"] == "/weights/FetalCLIP_weights.pt"
