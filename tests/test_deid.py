"""De-identification (PS3.15 basic profile + clean pixel data) on real vendor ultrasound files."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from fetalviewer.cli import main
from fetalviewer.dicom import open_instance
from fetalviewer.dicom.deid import (
    DeidOptions,
    UidMap,
    deidentify_dataset,
    deidentify_files,
    find_identifier_leaks,
    identifier_strings,
)
from fetalviewer.dicom.deid.damage import duplicated_tags
from fetalviewer.errors import ExportError
from tests.dicom_reference import decode_frames_uint8

OB = get_testdata_file("OBXXXX1A.dcm")
OB_RLE = get_testdata_file("OBXXXX1A_rle.dcm")


def _dciodvfy_errors(path) -> list[str]:
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (dicom3tools) not installed")
    proc = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Error")]


def test_obxxxx1a_has_no_identifiers_and_black_banner(tmp_path):
    original = pydicom.dcmread(OB)
    assert str(original.PatientID) and original.StudyDate  # the fixture really carries identifiers
    exported = deidentify_files([OB], tmp_path / "out", DeidOptions())
    assert [e.output.name for e in exported] == ["DEID_0001.dcm"]
    ds = pydicom.dcmread(exported[0].output)
    assert "OB" not in str(ds.PatientName) and str(ds.PatientID) != str(original.PatientID)
    assert ds.StudyDate == "" and "AcquisitionDateTime" not in ds and "InstitutionName" not in ds
    assert not any(elem.tag.is_private for elem in ds)
    assert ds.PatientIdentityRemoved == "YES" and ds.BurnedInAnnotation == "NO"
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113101"]
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert ds.StudyInstanceUID != original.StudyInstanceUID
    raw = exported[0].output.read_bytes()
    for secret in (b"11-05-25-142825", b"20110525", b"Philips Healthcare", b"OEM-4K7CO2TYJWP"):
        assert secret not in raw
    # Pixels: the banner above the 2D region (rows < 60) is black, the image inside is the original RGB.
    before, _ = decode_frames_uint8(original)  # pydicom's own decoding, independent of the engine
    after = ds.pixel_array
    assert ds.PhotometricInterpretation == "RGB" and after.shape == (600, 800, 3)
    assert before[0, :60].max() > 0 and after[:60].max() == 0
    assert after[:, :120].max() == 0 and after[519:].max() == 0
    shown = open_instance(OB).frame(0)  # what the viewer shows: kept exactly inside the 2D region
    np.testing.assert_array_equal(after[60:519, 120:800], shown[60:519, 120:800])
    diff = np.abs(after[60:519, 120:800].astype(int) - before[0, 60:519, 120:800])
    assert diff.max() <= 1  # pydicom's palette conversion rounds 16-bit LUT entries differently
    assert _dciodvfy_errors(exported[0].output) == []


def test_uids_consistent_and_dates_shifted(tmp_path):
    exported = deidentify_files([OB, OB_RLE], tmp_path / "out", DeidOptions(date_shift_days=-30))
    first, second = (pydicom.dcmread(e.output) for e in exported)
    assert first.StudyInstanceUID == second.StudyInstanceUID  # one map per export
    assert first.SOPInstanceUID == second.SOPInstanceUID  # the two files are the same instance
    assert first.StudyDate == (dt.date(2011, 5, 25) - dt.timedelta(days=30)).strftime("%Y%m%d")
    assert first.AcquisitionDateTime.startswith("20110425")
    assert first.StudyTime == "142825.000000" and first.PatientBirthDate == ""  # times kept (113107)
    assert [i.CodeValue for i in first.DeidentificationMethodCodeSequence][-1] == "113107"
    assert first.LongitudinalTemporalInformationModified == "MODIFIED"
    assert first.file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID
    # A second export uses a fresh map: new UIDs.
    again = deidentify_files([OB], tmp_path / "again", DeidOptions())
    assert pydicom.dcmread(again[0].output).StudyInstanceUID != first.StudyInstanceUID


def test_leak_fails_export_and_leaves_nothing(tmp_path, monkeypatch):
    import fetalviewer.dicom.deid.profile as deid_profile

    real = deid_profile.deidentify_header

    def leaky(ds, options, uid_map, has_pixels, removed=None):
        out = real(ds, options, uid_map, has_pixels, removed)
        out.ManufacturerModelName = str(ds.PatientID)  # a bug that would leak the ID
        return out

    monkeypatch.setattr(deid_profile, "deidentify_header", leaky)
    out_dir = tmp_path / "out"
    with pytest.raises(ExportError, match=r"DEID_0001\.dcm.*11-05-25-142825"):
        deidentify_files([OB, OB_RLE], out_dir, DeidOptions())
    assert list(out_dir.iterdir()) == []  # staging removed, nothing half-written


def test_leak_check_finds_identifiers_in_any_element(tmp_path):
    ds = pydicom.dcmread(OB)
    identifiers = identifier_strings(ds, DeidOptions())
    assert {"11-05-25-142825", "OB", "20110525", "Philips Healthcare"} <= identifiers
    clean = deidentify_dataset(ds, DeidOptions(), UidMap())
    clean.add_new(0x00091010, "LO", "x Philips Healthcare x")  # a private element
    clean.save_as(tmp_path / "leak.dcm", enforce_file_format=True)
    assert find_identifier_leaks(tmp_path / "leak.dcm", identifiers) == ["Philips Healthcare"]


def test_file_without_2d_region_is_refused(tmp_path):
    no_region = get_testdata_file("US1_UNCR.dcm")
    with pytest.raises(ExportError, match="US1_UNCR.dcm: no 2D imaging region"):
        deidentify_files([OB, no_region], tmp_path / "out", DeidOptions())
    assert list((tmp_path / "out").iterdir()) == []


def test_options_validate():
    with pytest.raises(TypeError, match="date_shift_days"):
        DeidOptions(date_shift_days="5")
    with pytest.raises(ValueError, match="date_shift_days"):
        DeidOptions(date_shift_days=10**7)


def test_cli_deidentify(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    shutil.copy(OB, tmp_path / "in" / "scan.dcm")
    (tmp_path / "in" / "notes.txt").write_text("not dicom")
    assert (
        main(["deidentify", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--shift-dates-days", "7"])
        == 0
    )
    captured = capsys.readouterr()
    assert "notes.txt: not a DICOM file" in captured.err
    assert pydicom.dcmread(tmp_path / "out" / "DEID_0001.dcm").StudyDate == "20110601"
    assert main(["deidentify", str(tmp_path / "in" / "notes.txt"), "--out", str(tmp_path / "o2")]) == 2


@pytest.mark.parametrize(
    "name", ["OBXXXX1A_expb.dcm", "gdcm-US-ALOKA-16_big.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm"]
)
def test_other_vendor_encodings_validate(tmp_path, name):
    """Big endian sources are rewritten little endian; empty vendor code items are dropped; 2D regions kept."""
    source = get_testdata_file(name)
    (exported,) = deidentify_files([source], tmp_path / "out", DeidOptions())
    assert _dciodvfy_errors(exported.output) == []
    ds = pydicom.dcmread(exported.output)
    assert ds.file_meta.TransferSyntaxUID in ("1.2.840.10008.1.2.5", "1.2.840.10008.1.2.1")
    shown = open_instance(source).frame(0)
    for region in ds.SequenceOfUltrasoundRegions:
        if region.RegionSpatialFormat == 1:
            x0, y0 = region.RegionLocationMinX0, region.RegionLocationMinY0
            x1, y1 = (
                min(region.RegionLocationMaxX1, ds.Columns - 1),
                min(region.RegionLocationMaxY1, ds.Rows - 1),
            )
            np.testing.assert_array_equal(
                ds.pixel_array[y0 : y1 + 1, x0 : x1 + 1], shown[y0 : y1 + 1, x0 : x1 + 1]
            )


def _header_text(path) -> bytes:
    with open(path, "rb") as fh:
        pydicom.dcmread(fh, stop_before_pixels=True)
        end = fh.tell()
        fh.seek(0)
        return fh.read(end)


def _retag(data: bytes, old: bytes, new: bytes) -> bytes:
    """``data`` with the one element header ``old`` (tag bytes, and VR in explicit VR) made ``new``."""
    assert data.count(old) == 1, old
    return data.replace(old, new)


def test_value_read_past_a_damaged_length_is_dropped(tmp_path):
    """A text value that holds the next element's tag, VR and length (control characters) is not kept,
    and neither is the identifier swallowed with it."""
    ds = pydicom.dcmread(OB)
    del ds.InstitutionName
    ds.Manufacturer = "Philips Medical Systems \x08\x00\x80\x00LO\x12\x00Philips Healthcare"
    assert len(ds.Manufacturer) <= 64  # not caught by the maximum length of LO
    ds.save_as(tmp_path / "swallowed.dcm")
    (exported,) = deidentify_files([tmp_path / "swallowed.dcm"], tmp_path / "out", DeidOptions())
    out = pydicom.dcmread(exported.output)
    assert "Manufacturer" not in out and out.ManufacturerModelName == "CX50"
    assert b"Philips Healthcare" not in exported.output.read_bytes()


@pytest.mark.parametrize(
    ("implicit", "new_tag"),
    [(True, b"\x18\x00\x20\x00"), (False, b"\x10\x00\x22\x00LO"), (True, b"\x10\x00\x22\x00"),
     (True, b"\x12\x00\x20\x00")],
    ids=["out-of-order-implicit", "vr-mismatch-explicit", "patient-group-implicit", "clinical-trial-group-implicit"],
)
def test_patient_id_under_a_damaged_tag_is_dropped(tmp_path, implicit, new_tag):
    """PatientID's tag damaged into a kept attribute: (0018,0020) Scanning Sequence breaks the tag order
    (implicit VR: the dictionary gives it VR CS, which the value then fits); (0010,0022) Type of
    Patient ID keeps the order, but the file's VR LO is not the dictionary's CS (in implicit VR it fits
    both, but the patient group keeps only what the profile empties); (0012,0020) Clinical Trial
    Protocol ID keeps order and VR, but the clinical trial group is not kept."""
    ds = pydicom.dcmread(OB)
    ds.PatientName = "Doe^Jane"
    if implicit:
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    if new_tag.startswith(b"\x12"):  # nothing between the two tags: the order stays ascending
        for tag in [t for t in ds.keys() if 0x00100020 < t < 0x00120020]:
            del ds[tag]
    source = tmp_path / "source.dcm"
    ds.save_as(source, implicit_vr=implicit, little_endian=True, enforce_file_format=True)
    old_tag = b"\x10\x00\x20\x00" if implicit else b"\x10\x00\x20\x00LO"
    source.write_bytes(_retag(source.read_bytes(), old_tag, new_tag))
    (exported,) = deidentify_files([source], tmp_path / "out", DeidOptions())
    out = pydicom.dcmread(exported.output)
    assert not {"ScanningSequence", "TypeOfPatientID", "ClinicalTrialProtocolID"} & set(out.dir())
    header = _header_text(exported.output)
    assert b"142825" not in header and b"DOE" not in header.upper()


def test_a_tag_damaged_into_the_one_before_it_is_dropped(tmp_path):
    """InstitutionName's tag damaged into Manufacturer's, the element just before it: pydicom keeps the
    second value (the institution) in Manufacturer's place, so the file order looks intact."""
    source = tmp_path / "source.dcm"
    source.write_bytes(_retag(Path(OB).read_bytes(), b"\x08\x00\x80\x00LO", b"\x08\x00\x70\x00LO"))
    ds = pydicom.dcmread(source, stop_before_pixels=True)
    assert ds.Manufacturer == "Philips Healthcare" and duplicated_tags(source, ds) == [0x00080070]
    (exported,) = deidentify_files([source], tmp_path / "out", DeidOptions())
    assert "Manufacturer" not in pydicom.dcmread(exported.output)
    assert b"Philips Healthcare" not in exported.output.read_bytes()


def test_removed_values_are_taken_out_of_kept_attributes(tmp_path):
    """Values the profile removes (here a department name, a person name part and free text) are
    removed from every kept attribute too, and the read-back check finds any that remain."""
    ds = pydicom.dcmread(OB)
    ds.InstitutionalDepartmentName = "Fetal Medicine Unit Nightingale"
    ds.OperatorsName = "Quimby^Harriet"
    ds.ImageComments = "scan by Harriet Quimby"
    ds.ManufacturerModelName = "CX50 (Fetal Medicine Unit Nightingale)"  # damaged files put
    ds.TransducerData = "C5-1^QUIMBY"  # removed values anywhere
    ds.BodyPartExamined = "ABDOMEN"  # kept, unrelated to what is removed
    ds.save_as(tmp_path / "source.dcm")
    (exported,) = deidentify_files([tmp_path / "source.dcm"], tmp_path / "out", DeidOptions())
    out = pydicom.dcmread(exported.output)
    assert "ManufacturerModelName" not in out and "TransducerData" not in out
    assert out.BodyPartExamined == "ABDOMEN" and out.Manufacturer == "Philips Medical Systems"
    header = _header_text(exported.output).upper()
    assert b"NIGHTINGALE" not in header and b"QUIMBY" not in header
    # The read-back check knows the removed values: a copy that still holds one is a leak.
    out.StationName = "NIGHTINGALE-2"  # whole tokens: "-" ends one
    out.save_as(tmp_path / "leak.dcm")
    removed = {"Nightingale", "Quimby", "Harriet"}
    assert find_identifier_leaks(tmp_path / "leak.dcm", set(), removed) == ["Nightingale"]
    out.StationName = "Nightingales"  # not a whole token
    out.save_as(tmp_path / "leak.dcm")
    assert find_identifier_leaks(tmp_path / "leak.dcm", set(), removed) == []


def test_clean_vendor_files_lose_nothing_to_the_damage_rules(monkeypatch):
    """The pydicom-data ultrasound files and the bundled sample: no element is dropped as damaged,
    out of order or holding a removed value (the rules do not fire on intact files)."""
    from fetalviewer.dicom.deid import profile
    from fetalviewer.dicom.deid.damage import damage, drop_out_of_order
    from fetalviewer.paths import sample_study_dir

    dropped: list[str] = []
    real = profile.drop_kept_matches
    monkeypatch.setattr(profile, "drop_kept_matches", lambda ds, removed: dropped.extend(real(ds, removed)))
    names = ["OBXXXX1A.dcm", "OBXXXX1A_expb.dcm", "gdcm-US-ALOKA-16.dcm", "US1_J2KI.dcm",
             "examples_ybr_color.dcm", "examples_palette.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm"]  # fmt: skip
    paths = [get_testdata_file(n) for n in names] + sorted(sample_study_dir().glob("*.dcm"))
    assert len(paths) >= len(names) + 1
    for path in paths:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        removed: set[str] = set()
        assert drop_out_of_order(ds, removed) == [] and duplicated_tags(path, ds) == [], path
        assert not [e.keyword for e in ds.iterall() if damage(e)], path
        profile.deidentify_header(ds, DeidOptions(), UidMap(), has_pixels=True, removed=removed)
        assert dropped == [], path


def test_leak_check_skips_the_standards_own_code_meanings_only(tmp_path):
    """A patient called NAME^PATIENT: an SR's "Device Observer Name" concept is the standard's wording and
    not a leak; the same word in free text, or in a code whose meaning is not the dictionary's, is."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    def item(value, scheme, meaning):
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, scheme, meaning
        return code

    def written(meaning, description=""):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.88.33", generate_uid()
        ds.ConceptNameCodeSequence = Sequence([item("121013", "DCM", meaning)])
        if description:
            ds.StudyDescription = description
        path = tmp_path / f"{len(list(tmp_path.iterdir()))}.dcm"
        ds.save_as(path, enforce_file_format=True)
        return path

    identifiers = {"NAME^PATIENT", "NAME", "PATIENT"}
    assert find_identifier_leaks(written("Device Observer Name"), identifiers) == []
    assert find_identifier_leaks(written("Device Observer Name", "scan of NAME"), identifiers) == ["NAME"]
    assert find_identifier_leaks(written("Observer NAME PATIENT"), identifiers) == ["NAME", "PATIENT"]
