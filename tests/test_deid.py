"""De-identification (PS3.15 basic profile + clean pixel data) on real vendor ultrasound files."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

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

    def leaky(ds, options, uid_map, has_pixels):
        out = real(ds, options, uid_map, has_pixels)
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
