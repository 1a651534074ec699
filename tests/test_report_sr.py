"""OB-GYN Comprehensive SR (TID 5000): round trip through ObGynSR.build/from_file, dciodvfy clean, dsrdump readable,
de-identified variant, and a scanner-style report (cm units, no image references) read the same way."""

from __future__ import annotations

import shutil
import subprocess

import pydicom
import pytest
from pydicom.sr.codedict import codes
from test_report_content import sample_exam

from fetalviewer.analysis.measurement import make_distance
from fetalviewer.dicom import open_instance
from fetalviewer.dicom.deid import DeidOptions, UidMap, deidentify_dataset
from fetalviewer.exam.record import ExamRecord
from fetalviewer.report.build import build_report_content
from fetalviewer.report.sr import ObGynSR


def _tool(name):
    if shutil.which(name) is None:
        pytest.skip(f"{name} not installed")
    return name


def _sr(tmp_path, deidentified=False):
    loop, record, predictions, info = sample_exam()
    content = build_report_content([loop], record, predictions, model_info=info, deidentified=deidentified)
    uid_map = UidMap()
    if deidentified:
        evidence = [deidentify_dataset(loop.dataset(), DeidOptions(), uid_map)]
        sr = ObGynSR.build(content, record.measurements, [loop], evidence, uid_map)
    else:
        sr = ObGynSR.build(content, record.measurements, [loop], [loop.dataset()])
    return ObGynSR.write(sr, tmp_path / "sr.dcm"), loop, record, uid_map


def test_sr_round_trip(tmp_path):
    path, loop, record, _ = _sr(tmp_path)
    report = ObGynSR.from_file(path)
    assert report.is_ob_report and report.study_instance_uid == loop.study_instance_uid
    got = {m.label: m for m in report.measurements}
    assert set(got) == {"BPD", "HC", "FL"}
    for m in record.measurements:
        assert got[m.label].value_mm == pytest.approx(m.value_mm, rel=1e-9)
        assert got[m.label].sop_instance_uid == loop.sop_instance_uid
    assert got["FL"].section == "Fetal Long Bones" and got["HC"].section == "Fetal Biometry"
    assert got["BPD"].graphic_type == "POLYLINE" and got["BPD"].graphic_data == (300.5, 250.5, 470.5, 300.5)
    assert got["HC"].graphic_type == "ELLIPSE" and len(got["HC"].graphic_data) == 8
    assert got["HC"].algorithm == ("FetalViewer automatic biometry", "0.1.0")  # automatic -> TID 4019
    assert got["BPD"].algorithm is None  # manual -> no AI provenance
    assert got["HC"].ga_equation == "HC, Hadlock 1984" and got["HC"].ga_days == pytest.approx(
        146.85, abs=0.01
    )
    assert report.model_ga_days == 150 and report.model_algorithm[0] == "FetalCLIP zero-shot"


def test_sr_validates_and_dumps(tmp_path):
    path, *_ = _sr(tmp_path)
    proc = subprocess.run([_tool("dciodvfy"), str(path)], capture_output=True, text=True)
    assert [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Error")] == []
    dump = subprocess.run([_tool("dsrdump"), str(path)], capture_output=True, text=True)
    assert dump.returncode == 0
    assert '"OB-GYN Ultrasound Procedure Report"' in dump.stdout
    assert '(11932-1,LN,"HC, Hadlock 1984")' in dump.stdout and '"Biometry Group"' in dump.stdout


def test_deidentified_sr_uses_mapped_uids(tmp_path):
    path, loop, _, uid_map = _sr(tmp_path, deidentified=True)
    ds = pydicom.dcmread(path)
    assert str(ds.PatientName) == "ANONYMOUS^" and ds.PatientIdentityRemoved == "YES"
    assert ds.StudyInstanceUID == uid_map(loop.study_instance_uid) != loop.study_instance_uid
    report = ObGynSR.from_file(path)
    assert {m.sop_instance_uid for m in report.measurements} == {uid_map(loop.sop_instance_uid)}
    assert b"11-05-25-142825" not in path.read_bytes()


def test_multiframe_reference_uses_one_based_frame_number(tmp_path):
    from pydicom.data import get_testdata_file

    loop = open_instance(get_testdata_file("color3d_jpeg_baseline.dcm"))
    record = ExamRecord(loop.study_instance_uid)
    record.put_measurement(
        make_distance(loop.sop_instance_uid, 5, ((200.5, 200.5), (300.5, 200.5)), loop.regions, label="FL")
    )
    content = build_report_content([loop], record, None)
    path = ObGynSR.write(
        ObGynSR.build(content, record.measurements, [loop], [loop.dataset()]), tmp_path / "sr.dcm"
    )
    (fl,) = ObGynSR.from_file(path).measurements
    assert fl.frame_number == 6 and fl.value_mm == pytest.approx(100 * 0.5104970559, rel=1e-6)


def test_reads_scanner_style_report(tmp_path):
    import highdicom as hd
    from pydicom.data import get_testdata_file

    evidence = pydicom.dcmread(get_testdata_file("OBXXXX1A.dcm"), stop_before_pixels=True)
    hc = hd.sr.NumContentItem(name=codes.LN.HeadCircumference, value=17.5, unit=hd.sr.CodedConcept("cm", "UCUM", "cm"),
                              relationship_type="CONTAINS")  # fmt: skip
    group = hd.sr.ContainerContentItem(name=codes.DCM.BiometryGroup, relationship_type="CONTAINS")
    group.ContentSequence = [hc]
    section = hd.sr.ContainerContentItem(name=codes.DCM.FetalBiometry, relationship_type="CONTAINS")
    section.ContentSequence = [group]
    root = hd.sr.ContainerContentItem(name=codes.DCM.OBGYNUltrasoundProcedureReport, template_id="5000")
    root.ContentSequence = [section]
    sr = hd.sr.ComprehensiveSR([evidence], root, hd.UID(), 1, hd.UID(), 1, manufacturer="Scanner")
    sr.save_as(tmp_path / "vendor.dcm", enforce_file_format=True)
    (m,) = ObGynSR.from_file(tmp_path / "vendor.dcm").measurements
    assert (m.label, m.value_mm, m.sop_instance_uid, m.algorithm) == ("HC", 175.0, None, None)


def test_non_sr_is_refused(tmp_path):
    from pydicom.data import get_testdata_file

    from fetalviewer.errors import DicomReadError

    with pytest.raises(DicomReadError, match="not a structured report"):
        ObGynSR.from_file(get_testdata_file("OBXXXX1A.dcm"))
    (tmp_path / "x.dcm").write_text("nope")
    with pytest.raises(DicomReadError, match="x.dcm: not readable as DICOM"):
        ObGynSR.from_file(tmp_path / "x.dcm")


def test_signed_record_gives_verified_sr(tmp_path):
    loop, record, predictions, info = sample_exam()
    record.sign("Dr Example")
    content = build_report_content([loop], record, predictions, model_info=info)
    ds = pydicom.dcmread(
        ObGynSR.write(ObGynSR.build(content, record.measurements, [loop], [loop.dataset()]), tmp_path / "s.dcm")
    )
    assert (ds.VerificationFlag, ds.CompletionFlag, ds.PreliminaryFlag) == ("VERIFIED", "COMPLETE", "FINAL")
    assert "Dr Example" in str(ds.VerifyingObserverSequence[0].VerifyingObserverName)
    deid = build_report_content([loop], record, predictions, model_info=info, deidentified=True)
    uid_map = UidMap()
    evidence = [deidentify_dataset(loop.dataset(), DeidOptions(), uid_map)]
    ds = ObGynSR.build(deid, record.measurements, [loop], evidence, uid_map)
    assert ds.VerificationFlag == "UNVERIFIED" and "VerifyingObserverSequence" not in ds


def test_instance_without_patient_attributes_still_gives_an_sr(tmp_path):
    """Files lacking the Type 2 patient/study attributes (e.g. minimal exports) must not break the SR."""
    loop, record, predictions, info = sample_exam()
    header = loop.dataset()
    for keyword in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyID", "AccessionNumber"):
        if keyword in header:
            delattr(header, keyword)
    content = build_report_content([loop], record, predictions, model_info=info)
    sr = ObGynSR.build(content, record.measurements, [loop], [header])
    path = ObGynSR.write(sr, tmp_path / "sr.dcm")
    written = pydicom.dcmread(path)
    assert written.PatientID == "" and written.PatientName == ""
    assert {m.label for m in ObGynSR.from_file(path).measurements} == {"BPD", "HC", "FL"}


def test_from_dataset_reads_the_built_dataset_as_the_file_does(tmp_path):
    loop, record, predictions, info = sample_exam()
    content = build_report_content([loop], record, predictions, model_info=info)
    dataset = ObGynSR.build(content, record.measurements, [loop], [loop.dataset()])
    in_memory = ObGynSR.from_dataset(dataset)
    from_file = ObGynSR.from_file(ObGynSR.write(dataset, tmp_path / "sr.dcm"))
    assert in_memory.path is None and in_memory.name == dataset.SOPInstanceUID
    assert from_file.name == "sr.dcm"
    assert [m.label for m in in_memory.measurements] == [m.label for m in from_file.measurements]
    assert len(in_memory.measurements) == 3  # a file stores DS text: values agree to its precision
    for a, b in zip(in_memory.measurements, from_file.measurements, strict=True):
        assert (a.value_mm, a.ga_days) == pytest.approx((b.value_mm, b.ga_days), rel=1e-9)
    assert in_memory.model_ga_days == from_file.model_ga_days == 150
