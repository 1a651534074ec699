"""The bundled sample study exports de-identified: every report format, no identifier left anywhere."""

from __future__ import annotations

import shutil

import pydicom
import pytest

from fetalviewer import cli
from fetalviewer.paths import sample_study_dir

IDENTIFIERS = ("FVTEST", "ALBA", "FVT-0001", "FVTACC01", "RUBEN", "OPAL", "19900101", "1990-01-01", "20260101",
               "2026-01-01", "01.01.2026")


def test_sample_deidentified_report_has_no_identifiers(tmp_path, capsys):
    out = tmp_path / "export"
    status = cli.main(["report", str(sample_study_dir()), "--out", str(out), "--deidentify",
                       "--formats", "pdf,sr,json,csv,dicom"])
    assert status == 0, capsys.readouterr()
    written = sorted(p for p in out.rglob("*") if p.is_file())
    assert any(p.suffix == ".pdf" for p in written) and any(p.name == "report_sr.dcm" for p in written)
    originals = [p for p in written if p.suffix == ".dcm" and p.name != "report_sr.dcm"]
    assert len(originals) == 4  # the de-identified copies of the instances
    texts = []
    for path in written:
        if path.suffix == ".pdf":
            if shutil.which("pdftotext") is None:
                pytest.skip("pdftotext (poppler-utils) not installed")
            from fetalviewer.report.pdf import pdf_text

            texts.append(pdf_text(path))
        elif path.suffix == ".dcm":
            ds = pydicom.dcmread(path)
            assert ds.PatientIdentityRemoved == "YES"
            texts.append(str(ds))  # every header element, sequences included
        else:
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    joined = "\n".join(texts).upper()
    for identifier in IDENTIFIERS:
        assert identifier not in joined, identifier
    # The banner rows above the tissue region are black in the exported pixels.
    copy = pydicom.dcmread(originals[0])
    region = copy.SequenceOfUltrasoundRegions[0]
    frame = copy.pixel_array if copy.get("NumberOfFrames", 1) == 1 else copy.pixel_array[0]
    assert frame[: region.RegionLocationMinY0].max() == 0
