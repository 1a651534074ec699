"""File > Export… in the real window on the bundled sample: the dialog's export path (the Export button's
code) to PDF + SR + CSV, a de-identified export, failures that leave nothing, the SR tab; and the
``fetalviewer report`` options that match the dialog (impression, sign-off, cached analysis reuse)."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from PySide6.QtCore import Qt

from fetalviewer.cli import main
from fetalviewer.paths import sample_study_dir
from tests.test_ui_window import click_image, open_and_wait, tissue_region, window  # noqa: F401 (fixture)

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints", "does not support raise")
STILL = "US_still_254_HC.dcm"


def _sample() -> str:
    folder = sample_study_dir()
    if not (folder / STILL).exists():
        pytest.skip("the bundled sample study is not built")
    return str(folder)


def _open_still(qtbot, win):
    open_and_wait(qtbot, win, [_sample()])
    index = next(i for i, lp in enumerate(win.instances) if str(lp.path).endswith(STILL))
    win.select_instance(index)
    return win.current_loop


def _draw_bpd(qtbot, win, loop):
    """A distance through the mouse path (D, two clicks), labelled BPD in the measurement panel's way."""
    region = tissue_region(loop)
    qtbot.keyClick(win, Qt.Key_D)
    click_image(qtbot, win, region.x0 + 250.0, region.y0 + 200.0)
    click_image(qtbot, win, region.x0 + 250.0, region.y0 + 420.0)
    m = win.measurements.measurements()[-1]
    win.measurements.set_label(m.measurement_id, "BPD")
    return win.measurements.measurement(m.measurement_id)


def _dialog(win, out, formats, deidentify=False):
    win.actions["export"].trigger()  # File > Export… (Ctrl+E)
    dialog = win.export_dialog
    assert dialog.isVisible()
    dialog.folder_edit.setText(str(out))
    dialog.deid_box.setChecked(deidentify)
    for key, box in dialog.format_boxes.items():
        box.setChecked(key in formats)
    return dialog


def _export(qtbot, dialog, signal="finished"):
    controller = dialog.controller
    with qtbot.waitSignal(getattr(controller, signal), timeout=120000) as blocker:
        assert dialog.export() > 0
        assert controller.busy and not dialog.export_button.isEnabled()  # runs on a worker
    assert not controller.busy
    return blocker.args[0]


def test_dialog_exports_pdf_sr_csv_and_the_sr_reads_back(qtbot, window, tmp_path):  # noqa: F811
    from fetalviewer.analysis.measurement import edit_measurement
    from fetalviewer.exam.record import load_exam_record
    from fetalviewer.report.sr import ObGynSR
    from fetalviewer.report.tables import read_table_csv
    from fetalviewer.ui import measure_adapter as ma

    loop = _open_still(qtbot, window)
    bpd = _draw_bpd(qtbot, window, loop)
    assert bpd.label == "BPD" and bpd.length_mm is not None
    auto = ma.new_distance(loop, 0, (300.0, 300.0), (300.0, 500.0), label="FL", source="automatic")
    edited = edit_measurement(auto, loop.regions, points_px=((300.0, 300.0), (300.0, 520.0)))
    window.measurements.put_many([edited])
    out = tmp_path / "out"
    dialog = _dialog(window, out, {"pdf", "sr", "csv"})
    dialog.impression_edit.setPlainText("Head biometry within the normal range.")
    dialog.signer_edit.setText("Dr A. Sonographer")
    assert (
        "fetalviewer report" in dialog.command_label.text()
        and "--formats pdf,sr,csv" in dialog.command_label.text()
    )
    result = _export(qtbot, dialog)

    names = sorted(p.name for p in out.iterdir())
    assert names == ["measurements.csv", "model_outputs.csv", "report.pdf", "report_sr.dcm"]
    assert sorted(p.name for p in result.files) == names
    assert all(str(p) in dialog.result_view.toPlainText() for p in result.files)
    sr = ObGynSR.from_file(out / "report_sr.dcm")
    got = {m.label: m for m in sr.measurements}
    assert set(got) == {"BPD", "FL"}
    assert got["BPD"].value_mm == pytest.approx(bpd.length_mm, abs=0.01)
    assert got["BPD"].sop_instance_uid == loop.sop_instance_uid and not got["BPD"].edited
    assert got["FL"].edited and got["FL"].automatic_value_mm == pytest.approx(auto.length_mm, abs=0.01)
    assert got["FL"].value_mm == pytest.approx(edited.length_mm, abs=0.01)
    assert pydicom.dcmread(out / "report_sr.dcm").VerificationFlag == "VERIFIED"  # signed in the dialog
    rows = read_table_csv(out / "measurements.csv")
    assert {r["label"] for r in rows} == {"BPD", "FL"}
    record = load_exam_record(loop.study_instance_uid)  # impression and signature stored on disk
    assert record.impression == "Head biometry within the normal range."
    assert record.sign_off is not None and record.sign_off.signed_by == "Dr A. Sonographer"

    # the SR opened with the study: the SR tab puts its values beside the app's own
    with qtbot.waitSignal(window.sr_panel.loaded, timeout=30000) as blocker:
        window.open_paths([_sample(), str(out / "report_sr.dcm")])
    assert blocker.args[0] == 1
    rows = {r["Parameter"]: r for r in window.sr_panel.panel.rows()}
    assert rows["BPD"]["SR value"] == f"{bpd.length_mm:.1f} mm"
    assert rows["BPD"]["App value"] == f"{bpd.length_mm:.1f} mm" and rows["BPD"]["App - SR"] == "+0.0 mm"
    assert "edited from an automatic" in window.sr_panel.panel.note_label.text()
    assert not any("report_sr.dcm" in m for m in window.problems.messages())  # an SR is no loading problem
    assert window.right_tabs.tabText(window.right_tabs.indexOf(window.sr_panel.panel)) == "SR (1)"


def test_deidentified_export_carries_no_identifier(qtbot, window, tmp_path):  # noqa: F811
    """The issue's check on OBXXXX1A.dcm: no patient name, ID, dates or banner text in any file.
    (The bundled sample's de-identified export is checked in test_sample_deid_report.py.)"""
    from pydicom.data import get_testdata_file

    ob = get_testdata_file("OBXXXX1A.dcm")
    if ob is None:
        pytest.skip("pydicom-data OBXXXX1A.dcm is not installed")
    open_and_wait(qtbot, window, [ob])
    loop = window.current_loop
    _draw_bpd(qtbot, window, loop)
    original = pydicom.dcmread(ob, stop_before_pixels=True)
    out = tmp_path / "deid"
    dialog = _dialog(window, out, {"pdf", "sr", "sc", "png", "csv", "json", "dicom"}, deidentify=True)
    assert dialog.format_boxes["dicom"].isEnabled()
    dialog.shift_dates.setChecked(True)
    dialog.shift_days.setValue(-30)
    text = dialog.command_label.text()
    assert "--deidentify" in text and "--shift-dates-days -30" in text
    result = _export(qtbot, dialog)
    names = {p.name for p in result.files}
    assert {"report.pdf", "report_sr.dcm", "report.json", "measurements.csv", "DEID_0001.dcm"} <= names
    for path in out.iterdir():
        raw = path.read_bytes()
        for ident in (
            str(original.PatientName),
            str(original.PatientID),
            "11-05-25-142825",
            "Philips Healthcare",
        ):
            assert ident.encode() not in raw, (path.name, ident)
    sr = pydicom.dcmread(out / "report_sr.dcm")
    assert sr.PatientIdentityRemoved == "YES" and sr.StudyInstanceUID != loop.study_instance_uid
    copy = pydicom.dcmread(out / "DEID_0001.dcm")
    assert copy.StudyDate == "20110425"  # 2011-05-25 shifted by -30 days
    assert copy.StudyInstanceUID == sr.StudyInstanceUID  # one UID map for the whole export


def test_export_into_an_unwritable_folder_shows_the_error_and_leaves_nothing(qtbot, window, tmp_path):  # noqa: F811
    loop = _open_still(qtbot, window)
    _draw_bpd(qtbot, window, loop)
    blocker_file = tmp_path / "blocker"
    blocker_file.write_text("a file where the folder should be")
    dialog = _dialog(window, blocker_file / "out", {"pdf", "sr", "csv"})
    message = _export(qtbot, dialog, "failed")
    assert "cannot create the export folder" in message and str(blocker_file / "out") in message
    assert (
        "Export failed" in dialog.result_view.toPlainText()
        and "cannot create" in dialog.result_view.toPlainText()
    )
    assert not (blocker_file / "out").exists() and dialog.export_button.isEnabled()


def test_export_failing_midway_leaves_nothing_half_written(qtbot, window, tmp_path, monkeypatch):  # noqa: F811
    from fetalviewer.report import export as export_module

    def broken_sr(*_args):
        raise OSError("No space left on device")

    monkeypatch.setitem(export_module._WRITERS, "sr", broken_sr)
    loop = _open_still(qtbot, window)
    _draw_bpd(qtbot, window, loop)
    out = tmp_path / "out"
    dialog = _dialog(window, out, {"pdf", "sr", "csv"})
    message = _export(qtbot, dialog, "failed")
    assert (
        "sr export of" in message
        and str(loop.path) in message  # names the file being exported
        and "No space left on device" in message
        and "nothing was written" in message
    )
    assert list(out.iterdir()) == []  # the PDF written before the failure is gone too


def test_cancel_leaves_nothing(qtbot, window, tmp_path, monkeypatch):  # noqa: F811
    from fetalviewer.report import export as export_module

    original = export_module._WRITERS["pdf"]

    def slow_pdf(*args):
        window.exporter._current.cancel.set()  # the user pressed Cancel while the PDF was written
        return original(*args)

    monkeypatch.setitem(export_module._WRITERS, "pdf", slow_pdf)
    _open_still(qtbot, window)
    out = tmp_path / "out"
    dialog = _dialog(window, out, {"pdf", "csv"})
    message = _export(qtbot, dialog, "failed")
    assert "cancelled" in message and list(out.iterdir()) == []


# -- the command line: the same options as the dialog -----------------------------------------------------
def test_cli_impression_sign_off_and_measure_head_options(tmp_path, capsys):
    from fetalviewer.exam.record import load_exam_record

    still = (
        str(sample_study_dir() / STILL) if (sample_study_dir() / STILL).exists() else pytest.skip("no sample")
    )
    assert main(["report", still, "--out", str(tmp_path / "bad"), "--measure-head", "x"]) == 2
    assert "--measure-head: 'x'" in capsys.readouterr().err
    assert main(["report", still, "--out", str(tmp_path / "o"), "--formats", "json", "--impression", "Normal.",
                 "--sign-off", "Dr B"]) == 0  # fmt: skip
    uid = pydicom.dcmread(still, stop_before_pixels=True).StudyInstanceUID
    record = load_exam_record(uid)
    assert record.impression == "Normal." and record.sign_off.signed_by == "Dr B"
    data = json.loads((tmp_path / "o" / "report.json").read_text())
    assert "Dr B" in json.dumps(data)


def test_cli_reuses_the_windows_cached_analysis(tmp_path, capsys):
    """A study the window analysed is reported from the result cache: no model is loaded."""
    from fetalviewer.dicom import open_instance
    from fetalviewer.model.hashing import file_sha256
    from fetalviewer.model.planes import BRAIN_SUBPLANE_CLASSES, PLANE_CLASSES
    from fetalviewer.report.tables import read_table_csv
    from fetalviewer.workspace.cache import AnalysisCache, CacheKey
    from fetalviewer.workspace.fetalclip_backend import identity_for
    from fetalviewer.workspace.results import InstanceAnalysis

    still = sample_study_dir() / STILL
    if not still.exists():
        pytest.skip("no sample")
    from model_fixtures import save_official, tiny_state_dict

    # a real (tiny) checkpoint: its tensor names say which model family it is; it is never loaded
    weights = save_official(tiny_state_dict(), tmp_path / "tiny_model.pt")
    cine = open_instance(still)
    analysis = InstanceAnalysis(cine.sop_instance_uid, cine.n_frames, tuple(PLANE_CLASSES),
                                tuple(BRAIN_SUBPLANE_CLASSES), 4)  # fmt: skip
    probs = np.full(len(PLANE_CLASSES), 0.02, np.float32)
    probs[PLANE_CLASSES.index("brain")] = 1.0 - 0.02 * (len(PLANE_CLASSES) - 1)
    analysis.store([0], plane_probs=probs[None], brain_probs=np.full((1, 3), 1 / 3, np.float32),
                   ga_days=np.array([150.0], np.float32), embeddings=np.zeros((1, 4), np.float32))  # fmt: skip
    identity = identity_for(file_sha256(weights), "FetalCLIP_config")
    AnalysisCache().save(CacheKey.for_file(cine.sop_instance_uid, still, identity), analysis)
    cine.close()
    out = tmp_path / "out"
    args = ["report", str(still), "--out", str(out), "--weights", str(weights), "--formats", "csv,json"]
    assert main([*args, "--measure-head", "best"]) == 0
    printed = capsys.readouterr().out
    assert "reusing the window's cached analysis: 1 frame(s) of 1 instance(s)" in printed
    if _head_model_present():  # 'best': frame 0, the cached read-out's brain frame
        assert "automatic head biometry: 3 measurement(s) stored in the exam record" in printed
    rows = read_table_csv(out / "model_outputs.csv")
    assert len(rows) == 1 and rows[0]["top_plane"] == "brain"
    data = json.loads((out / "report.json").read_text())
    assert data["model_ga"].startswith("21w 3d")  # 150 days, from the cached read-out


def _head_model_present() -> bool:
    from fetalviewer.model.heads.default_head import DEFAULT_HEAD_META, default_head_dir

    return (default_head_dir() / DEFAULT_HEAD_META).exists()


def test_cli_head_contours_without_the_head_model_say_why(monkeypatch, tmp_path):
    from fetalviewer.dicom import open_instance
    from fetalviewer.model.heads import default_head
    from fetalviewer.report.build import head_contours_and_measurements

    still = sample_study_dir() / STILL
    if not still.exists():
        pytest.skip("no sample")
    monkeypatch.setattr(default_head, "default_head_dir", lambda: tmp_path / "no_model_here")
    default_head._cached_model.cache_clear() if hasattr(default_head._cached_model, "cache_clear") else None
    cine = open_instance(still)
    try:
        contours, new, notes = head_contours_and_measurements([cine], None, [(cine.sop_instance_uid, 0)])
    finally:
        cine.close()
    assert contours == {} and new == []
    assert len(notes) == 1 and "frame 1 of 1: head model not run" in notes[0] and "no_model_here" in notes[0]


@pytest.mark.skipif(not _head_model_present(), reason="the default head model is not in weights/default_head")
def test_cli_measure_head_gives_contour_and_automatic_head_measurements():
    from fetalviewer.dicom import open_instance
    from fetalviewer.exam.record import ExamRecord
    from fetalviewer.report.build import build_report_content, head_contours_and_measurements

    still = sample_study_dir() / STILL
    truth = json.loads((sample_study_dir() / "sample_truth.json").read_text())
    hc_truth = next(i for i in truth["instances"] if i["file"] == STILL)["hc_mm"]
    cine = open_instance(still)
    try:
        contours, new, notes = head_contours_and_measurements([cine], None, [(cine.sop_instance_uid, 0)])
        assert notes == [] and {m.label for m in new} == {"HC", "BPD", "OFD"}
        assert all(m.source == "automatic" for m in new)
        hc = next(m for m in new if m.label == "HC")
        assert hc.perimeter_mm == pytest.approx(hc_truth, rel=0.06)
        (polygon,) = contours[(cine.sop_instance_uid, 0)]
        assert len(polygon) >= 20
        record = ExamRecord(cine.study_instance_uid, measurements=list(new))
        again, more, _ = head_contours_and_measurements([cine], record, ())  # the record's head: contour only
        assert more == [] and (cine.sop_instance_uid, 0) in again
        content = build_report_content([cine], record, contours=again)
        (key,) = content.key_frames
        assert key.overlay.contours_px and len(key.overlay.measurements) == 3
    finally:
        cine.close()


def _brain_analysis(loop):
    from fetalviewer.model.planes import BRAIN_SUBPLANE_CLASSES, PLANE_CLASSES
    from fetalviewer.workspace.results import InstanceAnalysis

    analysis = InstanceAnalysis(loop.sop_instance_uid, loop.n_frames, tuple(PLANE_CLASSES),
                                tuple(BRAIN_SUBPLANE_CLASSES), 4)  # fmt: skip
    probs = np.full(len(PLANE_CLASSES), 0.02, np.float32)
    probs[PLANE_CLASSES.index("brain")] = 1.0 - 0.02 * (len(PLANE_CLASSES) - 1)
    analysis.store([0], plane_probs=probs[None], brain_probs=np.full((1, 3), 1 / 3, np.float32),
                   ga_days=np.array([150.0], np.float32), embeddings=np.zeros((1, 4), np.float32))  # fmt: skip
    return analysis


def test_export_carries_the_ai_review_results_and_the_head_contours(qtbot, window, tmp_path):  # noqa: F811
    from fetalviewer.report.export import ExportOptions
    from fetalviewer.report.tables import read_table_csv
    from fetalviewer.ui.export_controller import collect_export_inputs

    loop = _open_still(qtbot, window)
    window.workspace.results[loop.sop_instance_uid] = _brain_analysis(loop)  # as after 'Analyse study'
    if _head_model_present():
        with qtbot.waitSignal(window.biometry.finished, timeout=120000):
            window.actions["measure_head"].trigger()
    request = collect_export_inputs(window, tmp_path / "x", ExportOptions(("json",)), 1)
    (pred,) = request.predictions[loop.sop_instance_uid]
    assert pred.top_plane == "brain" and pred.ga_days == 150 and pred.frame_index == 0
    assert request.model_unavailable_reason is None
    assert {i.sop_instance_uid for i in request.instances} == {i.sop_instance_uid for i in window.instances}
    if _head_model_present():
        (polygon,) = request.contours[(loop.sop_instance_uid, 0)]
        assert len(polygon) >= 20
        assert {m.label for m in request.record.measurements} >= {"HC", "BPD", "OFD"}
    out = tmp_path / "out"
    _export(qtbot, _dialog(window, out, {"csv", "json"}))
    rows = read_table_csv(out / "model_outputs.csv")
    assert [(r["top_plane"], r["frame_index"]) for r in rows] == [("brain", 0)]
    assert json.loads((out / "report.json").read_text())["model_ga"].startswith("21w 3d")


def test_report_key_frame_keeps_bpd_and_ofd_labels_apart():
    """BPD and OFD of one head share their midpoint: the second label moves near its caliper's end."""
    from fetalviewer.report.overlay import _caliper_label_spots, _overlaps

    img = np.zeros((600, 800, 3), np.uint8)
    placed = [("BPD 49.2 mm (auto)", 408.0, 292.0)]  # drawn at the shared midpoint (400, 300)
    spots = _caliper_label_spots((250.0, 300.0), (550.0, 300.0), 120, 12)
    assert _overlaps(img, placed, "OFD 59.4 mm (auto)", spots[0], 0.5, 1)
    free = next(s for s in spots if not _overlaps(img, placed, "OFD 59.4 mm (auto)", s, 0.5, 1))
    assert free != spots[0] and (free[0] < 300 or free[0] > 400)


def test_an_image_without_a_study_uid_is_refused_for_export_and_report(qtbot, window, tmp_path, capsys):  # noqa: F811
    """A damaged or missing Study Instance UID: no exam record can be kept, so the window says why it cannot
    export (no crash) and ``fetalviewer report`` exits 2 naming the file."""
    import pydicom

    from fetalviewer.cli import main

    ds = pydicom.dcmread(f"{_sample()}/{STILL}")
    ds.StudyInstanceUID = ""
    path = tmp_path / "no_study_uid.dcm"
    ds.save_as(path)
    open_and_wait(qtbot, window, [path])
    window.actions["export"].trigger()
    assert "no Study Instance UID" in window.export_dialog.study_label.text()
    window.export_dialog.close()

    assert main(["report", str(path), "--out", str(tmp_path / "out"), "--formats", "json"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "no Study Instance UID" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
