"""``fetalviewer report``: the whole export from the command line, all-or-nothing, de-identified variant."""

from __future__ import annotations

import shutil

import pydicom
import pytest
from pydicom.data import get_testdata_file
from test_report_content import sample_exam

from fetalviewer.cli import main
from fetalviewer.exam.record import save_exam_record
from fetalviewer.report.build import build_report_content
from fetalviewer.report.export import ExportOptions, export_exam, parse_formats
from fetalviewer.report.sr import ObGynSR
from fetalviewer.report.tables import read_report_json, read_table_csv

OB = get_testdata_file("OBXXXX1A.dcm")


def test_cli_report_full_export(tmp_path, capsys):
    _, record, _, _ = sample_exam()
    save_exam_record(record)  # the exam record the window would have saved (user folders are redirected)
    assert main(["report", OB, "--out", str(tmp_path / "out")]) == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["keyframe_01.dcm", "keyframe_01.png", "measurements.csv", "model_outputs.csv",
                     "report.json", "report.pdf", "report_sr.dcm"]  # fmt: skip
    out = capsys.readouterr().out
    assert "mp4: no cine" in out and "every file read back" in out
    assert {m.label for m in ObGynSR.from_file(tmp_path / "out" / "report_sr.dcm").measurements} == {
        "BPD",
        "HC",
        "FL",
    }
    assert len(read_table_csv(tmp_path / "out" / "measurements.csv")) == 3
    data = read_report_json(tmp_path / "out" / "report.json")
    assert "no weights given" in data["model_ga"]


def test_cli_report_deidentified(tmp_path):
    _, record, _, _ = sample_exam()
    save_exam_record(record)
    assert (
        main(["report", OB, "--out", str(tmp_path / "out"), "--deidentify", "--shift-dates-days", "-10"]) == 0
    )
    out = tmp_path / "out"
    sr = pydicom.dcmread(out / "report_sr.dcm")
    copy = pydicom.dcmread(out / "DEID_0001.dcm")
    sc = pydicom.dcmread(out / "keyframe_01.dcm")
    assert sr.StudyInstanceUID == copy.StudyInstanceUID == sc.StudyInstanceUID  # one UID map per export
    refs = {m.sop_instance_uid for m in ObGynSR.from_file(out / "report_sr.dcm").measurements}
    assert refs == {copy.SOPInstanceUID}
    assert copy.StudyDate == "20110515"
    for path in out.iterdir():
        raw = path.read_bytes()
        assert b"11-05-25-142825" not in raw and b"Philips Healthcare" not in raw, path.name


def test_failed_export_leaves_nothing(tmp_path, monkeypatch):
    import fetalviewer.report.export as export

    loop, record, predictions, info = sample_exam()
    content = build_report_content([loop], record, predictions, model_info=info)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setitem(export._WRITERS, "json", broken)
    out = tmp_path / "out"
    with pytest.raises(Exception, match=r"json export of .+ failed \(OSError: disk full\)"):
        export_exam(content, [loop], record.measurements, out, ExportOptions(("pdf", "csv", "json")))
    assert list(out.iterdir()) == []


def test_cli_errors(tmp_path, capsys):
    (tmp_path / "junk.txt").write_text("x")
    assert main(["report", str(tmp_path / "junk.txt"), "--out", str(tmp_path / "o")]) == 2
    assert "no readable instance" in capsys.readouterr().err
    assert main(["report", OB, "--out", str(tmp_path / "o"), "--formats", "pdf,gif"]) == 2
    assert main(["report", OB, "--out", str(tmp_path / "o"), "--shift-dates-days", "3"]) == 2
    assert not (tmp_path / "o").exists()
    with pytest.raises(ValueError, match="dicom"):
        ExportOptions(("dicom",), deidentify=False)
    assert parse_formats("PDF, sr,pdf") == ("pdf", "sr")


def test_cli_report_weights_missing_says_why(tmp_path):
    assert (
        main(
            [
                "report",
                OB,
                "--out",
                str(tmp_path / "o"),
                "--weights",
                str(tmp_path / "none.pt"),
                "--formats",
                "json",
            ]
        )
        == 0
    )
    data = read_report_json(tmp_path / "o" / "report.json")
    assert data["model_ga"].startswith("model not available:")
    assert "none.pt" in data["model_ga"]


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_cine_export_has_video(tmp_path):
    cine = get_testdata_file("color3d_jpeg_baseline.dcm")
    assert main(["report", cine, "--out", str(tmp_path / "o"), "--formats", "mp4,pdf"]) == 0
    from fetalviewer.report.video import read_video_info

    info = read_video_info(tmp_path / "o" / "cine_01.mp4")
    assert info.n_frames == 120 and info.fps == pytest.approx(30.0, abs=0.05)


def test_scanner_sr_shown_beside_own_measurements(tmp_path, capsys):
    _, record, _, _ = sample_exam()
    save_exam_record(record)
    assert main(["report", OB, "--out", str(tmp_path / "first"), "--formats", "sr"]) == 0
    sr = tmp_path / "first" / "report_sr.dcm"
    record.remove_measurement("fl")  # the app now has no FL; the SR still has one
    save_exam_record(record)
    capsys.readouterr()
    assert main(["report", OB, str(sr), "--out", str(tmp_path / "second"), "--formats", "json,pdf"]) == 0
    printed = capsys.readouterr().out
    assert "OB-GYN report (TID 5000) by FetalViewer" in printed and "FL: 34.5 mm" in printed
    rows = {r["label"]: r for r in read_report_json(tmp_path / "second" / "report.json")["sr_comparison"]}
    assert set(rows) == {"BPD", "HC", "FL"}
    assert rows["HC"]["difference_mm"] == pytest.approx(0.0, abs=1e-9)
    assert rows["FL"]["app_value_mm"] is None and rows["FL"]["sr_ga_text"].startswith("20w 6d")
    # An SR alone: read and printed, nothing exported.
    assert main(["report", str(sr), "--out", str(tmp_path / "third")]) == 0
    assert not (tmp_path / "third").exists()


def test_png_of_any_frame(tmp_path, capsys):
    cine = get_testdata_file("color3d_jpeg_baseline.dcm")
    out = tmp_path / "o"
    assert main(["report", cine, "--out", str(out), "--formats", "json", "--png-frames", "0,60,500"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert "image01_frame0000.png" in names and "image01_frame0060.png" in names
    assert "frame 500 skipped" in capsys.readouterr().out
    assert main(["report", cine, "--out", str(tmp_path / "p"), "--png-frames", "x"]) == 2


def test_deidentified_export_refuses_uncleanable_image(tmp_path, capsys):
    no_region = get_testdata_file("US1_UNCR.dcm")
    assert main(["report", no_region, "--out", str(tmp_path / "o"), "--deidentify"]) == 2  # refused
    err = capsys.readouterr().err
    assert "US1_UNCR.dcm" in err and "no 2D imaging region" in err
    assert list((tmp_path / "o").iterdir()) == []


def test_cancelled_export_leaves_nothing(tmp_path):
    import threading

    loop, record, predictions, info = sample_exam()
    content = build_report_content([loop], record, predictions, model_info=info)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Exception, match="export cancelled"):
        export_exam(
            content, [loop], record.measurements, tmp_path / "o", ExportOptions(("json",)), cancel=cancel
        )
    assert list((tmp_path / "o").iterdir()) == []
