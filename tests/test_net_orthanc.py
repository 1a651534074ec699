"""DICOM networking against a real Orthanc on loopback: echo, C-FIND, C-GET, C-MOVE, DICOMweb, receive with
an allow list, send (SR + Encapsulated PDF, dciodvfy clean), node down, cancelled retrieve."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from fetalviewer.cli import main
from fetalviewer.settings import update_settings
from fetalviewer.studydb import open_study_db
from tests.net_helpers import write_tiny
from tests.orthanc_fixture import APP_AET, ORTHANC_AET, free_port, run_orthanc

REPO = Path(__file__).resolve().parent.parent
CINE, J2K = "color3d_jpeg_baseline.dcm", "US1_J2KR.dcm"
MANY_STUDY = "1.2.826.0.1.3680043.8.498.77"


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    with run_orthanc(tmp_path_factory.mktemp("orthanc")) as server:
        for name in (CINE, J2K):
            server.upload(get_testdata_file(name))
        for path in write_tiny(tmp_path_factory.mktemp("many"), 6, study_uid=MANY_STUDY, patient_id="QZ-MANY-7"):
            server.upload(path)
        yield server


@pytest.fixture()
def pacs(orthanc):
    """The Orthanc configured as node PACS (DIMSE) and WEB (DICOMweb only); C-MOVE lands on its port."""
    update_settings(local_aet=APP_AET, local_port=orthanc.app_port)
    assert main(["nodes", "add", "PACS", "--aet", ORTHANC_AET, "--host", "127.0.0.1",
                 "--port", str(orthanc.dicom_port)]) == 0  # fmt: skip
    assert main(["nodes", "add", "WEB", "--dicomweb", orthanc.dicomweb_url]) == 0
    return orthanc


def _uid(name: str) -> str:
    return str(pydicom.dcmread(get_testdata_file(name), stop_before_pixels=True).StudyInstanceUID)


def _json_out(capsys, argv) -> list:
    capsys.readouterr()
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_echo_and_node_list_hides_credentials(pacs, capsys, monkeypatch):
    assert main(["nodes", "echo", "PACS"]) == 0
    assert main(["nodes", "echo", "WEB"]) == 0
    from fetalviewer.paths import user_dirs

    log_text = "\n".join(p.read_text() for p in user_dirs().log_dir.glob("*.log*"))
    assert "audit user=" in log_text and "action=echo" in log_text and "node=WEB" in log_text
    monkeypatch.setenv("FV_TOKEN", "s3cret-token")
    assert main(["nodes", "add", "SECURE", "--dicomweb", "https://pacs.example/dicom-web", "--token-env", "FV_TOKEN"]) == 0
    listed = _json_out(capsys, ["nodes", "list", "--json", "-"])
    assert {n["name"] for n in listed} == {"PACS", "WEB", "SECURE"}
    assert "s3cret-token" not in json.dumps(listed) and listed[-1]["credentials"] == "bearer"
    assert main(["nodes", "remove", "SECURE"]) == 0 and main(["nodes", "remove", "SECURE"]) == 2


def test_c_find_study_and_series_levels(pacs, capsys):
    studies = _json_out(capsys, ["query", "PACS", "--json", "-"])
    uids = {s["study_instance_uid"] for s in studies}
    assert {_uid(CINE), _uid(J2K), MANY_STUDY} <= uids
    many = next(s for s in studies if s["study_instance_uid"] == MANY_STUDY)
    assert many["patient_id"] == "QZ-MANY-7" and many["n_instances"] == 6 and many["modalities_in_study"] == ["US"]
    only = _json_out(capsys, ["query", "PACS", "--patient-id", "QZ-MANY-7", "--study-date", "20261201-", "--series",
                              "--json", "-"])  # fmt: skip
    assert [s["study_instance_uid"] for s in only] == [MANY_STUDY]
    assert len(only[0]["series"]) == 6 and {r["modality"] for r in only[0]["series"]} == {"US"}
    assert _json_out(capsys, ["query", "PACS", "--modality", "CT", "--json", "-"]) == []
    by_name = _json_out(capsys, ["query", "PACS", "--patient-name", "qzw*", "--json", "-"])  # wildcard
    assert [s["study_instance_uid"] for s in by_name] == [MANY_STUDY]
    assert main(["query", "PACS", "--study-date", "2026-12-01"]) == 2


@pytest.mark.parametrize("via", ["get", "move"])
def test_retrieve_jpeg_cine_and_j2k_pixel_data_identical(pacs, via, capsys):
    assert main(["retrieve", "PACS", _uid(CINE), _uid(J2K), "--via", via]) == 0
    with open_study_db() as db:
        for name in (CINE, J2K):
            source = pydicom.dcmread(get_testdata_file(name))
            (path,) = db.instance_paths(str(source.StudyInstanceUID))
            got = pydicom.dcmread(path)
            assert path.is_relative_to(db.archive_dir)
            assert got.file_meta.TransferSyntaxUID == source.file_meta.TransferSyntaxUID  # not transcoded
            assert got.PixelData == source.PixelData
            record = db.get_study(str(source.StudyInstanceUID))
            assert record.source == "node:PACS" and record.status == "new"


def test_dicomweb_query_and_wado_retrieve_and_stow(pacs, capsys, tmp_path):
    studies = _json_out(capsys, ["query", "WEB", "--patient-id", "QZ-MANY-7", "--json", "-"])
    assert [s["study_instance_uid"] for s in studies] == [MANY_STUDY] and studies[0]["patient_id"] == "QZ-MANY-7"
    assert main(["retrieve", "WEB", _uid(J2K)]) == 0  # wado is the default for a DICOMweb-only node
    with open_study_db() as db:
        (path,) = db.instance_paths(_uid(J2K))
        source = pydicom.dcmread(get_testdata_file(J2K))
        got = pydicom.dcmread(path)
        assert got.file_meta.TransferSyntaxUID == source.file_meta.TransferSyntaxUID
        assert got.PixelData == source.PixelData
    sent = write_tiny(tmp_path / "stow", 1, patient_id="STOWED")
    assert main(["send", "WEB", str(sent[0])]) == 0  # STOW-RS for a DICOMweb-only node
    assert pacs.find_instance(str(pydicom.dcmread(sent[0]).SOPInstanceUID)) is not None


def test_retrieve_cancelled_half_way_leaves_db_and_archive_consistent(pacs):
    from fetalviewer.net.nodes import NodeStore, local_ae_from_settings
    from fetalviewer.net.retrieve import retrieve

    cancel = threading.Event()

    def progress(done, total):
        if done >= 2:
            cancel.set()

    with open_study_db() as db:
        result = retrieve(NodeStore().get("PACS"), local_ae_from_settings(), [MANY_STUDY], db, "get",
                          progress, cancel)  # fmt: skip
        assert result.cancelled and 2 <= result.stored < 6
        on_disk = set(db.archive_dir.rglob("*.dcm"))
        indexed = set(db.instance_paths(MANY_STUDY))
        assert on_disk == indexed and len(indexed) == result.stored
        assert not list(db.archive_dir.rglob(".*.part"))
        for path in on_disk:
            assert pydicom.dcmread(path).PatientID == "QZ-MANY-7"


def test_node_down_exits_2_with_a_message_fast(tmp_path, capsys):
    port = free_port()
    assert main(["nodes", "add", "DOWN", "--aet", "NOBODY", "--host", "127.0.0.1", "--port", str(port)]) == 0
    assert main(["nodes", "add", "WEBDOWN", "--dicomweb", f"http://127.0.0.1:{port}/dicom-web"]) == 0
    capsys.readouterr()
    for argv in (["nodes", "echo", "DOWN"], ["query", "DOWN"], ["retrieve", "DOWN", MANY_STUDY],
                 ["nodes", "echo", "WEBDOWN"], ["send", "DOWN", str(write_tiny(tmp_path, 1)[0])]):  # fmt: skip
        start = time.monotonic()
        assert main(argv) == 2, argv
        assert time.monotonic() - start < 30
        message = capsys.readouterr().err
        assert "DOWN" in message and "refused" in message and "Traceback" not in message, message
    assert main(["query", "NOSUCHNODE"]) == 2


def _receiver(port: int, allow: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    process = subprocess.Popen([sys.executable, "-m", "fetalviewer", "receive", "--aet", "FVRECV", "--port",
                                str(port), "--allow", allow], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env)  # fmt: skip
    line = process.stdout.readline()
    assert "receiving as FVRECV" in line, line + process.stderr.read()
    return process


def test_receive_with_allow_list(orthanc, tmp_path):
    from fetalviewer.net.nodes import LocalAE
    from fetalviewer.net.scp import StorageServer

    port = free_port()
    orthanc.define_modality("recv", "FVRECV", port)
    j2k = orthanc.find_instance(str(pydicom.dcmread(get_testdata_file(J2K), stop_before_pixels=True).SOPInstanceUID))
    with open_study_db() as db:  # Orthanc (AE ORTHANC) is not on the allow list: refused, nothing stored
        refusing = StorageServer(LocalAE("FVRECV", port, "127.0.0.1", allow_aets=("SOMEONEELSE",)), db).start()
        try:
            assert not orthanc.store_to("recv", [j2k]).ok
        finally:
            refusing.stop()
        assert db.instance_count() == 0 and not [p for p in db.archive_dir.rglob("*") if p.is_file()]
    accepted = _receiver(port, ORTHANC_AET)  # the command, in the foreground until SIGTERM
    try:
        assert orthanc.store_to("recv", [j2k]).ok
    finally:
        accepted.send_signal(signal.SIGTERM)
        out, err = accepted.communicate(timeout=30)
    assert accepted.returncode == 0 and "1 instance(s) stored" in out, out + err
    with open_study_db() as db:
        (record,) = db.list_studies()
        assert record.study_instance_uid == _uid(J2K) and record.status == "new"
        assert record.source == "receive:FVRECV"
        (path,) = db.instance_paths(record.study_instance_uid)
        assert pydicom.dcmread(path).PixelData == pydicom.dcmread(get_testdata_file(J2K)).PixelData


def test_send_sr_and_encapsulated_pdf(pacs, tmp_path, capsys):
    from test_report_content import sample_exam

    from fetalviewer.report.build import build_report_content
    from fetalviewer.report.encapsulated_pdf import read_encapsulated_pdf, write_encapsulated_pdf
    from fetalviewer.report.sr import ObGynSR

    loop, record, predictions, info = sample_exam()
    content = build_report_content([loop], record, predictions, model_info=info)
    sr = ObGynSR.write(ObGynSR.build(content, record.measurements, [loop], [loop.dataset()]), tmp_path / "sr.dcm")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<< /Type /Catalog >>endobj\ntrailer<< /Root 1 0 R >>\n%%EOF\n")
    doc = write_encapsulated_pdf(pdf, loop.dataset(), tmp_path / "report_pdf.dcm")
    assert read_encapsulated_pdf(doc).pdf == pdf.read_bytes()
    (tmp_path / "junk.dcm").write_bytes(b"not dicom")
    capsys.readouterr()
    assert main(["send", "PACS", str(sr), str(doc), str(tmp_path / "junk.dcm"), "--json", str(tmp_path / "s.json")]) == 2
    statuses = {Path(s["path"]).name: s for s in json.loads((tmp_path / "s.json").read_text())}
    assert statuses["sr.dcm"]["ok"] and statuses["report_pdf.dcm"]["ok"] and not statuses["junk.dcm"]["ok"]
    assert "2 of 3 file(s) stored on PACS" in capsys.readouterr().err
    for path in (sr, doc):
        held = pacs.find_instance(str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID))
        assert held is not None
        copy = tmp_path / f"held_{path.name}"
        copy.write_bytes(pacs.instance_file(held))
        if shutil.which("dciodvfy"):
            checked = subprocess.run(["dciodvfy", str(copy)], capture_output=True, text=True)
            errors = [ln for ln in (checked.stdout + checked.stderr).splitlines() if ln.startswith("Error")]
            assert errors == [], errors


def test_report_send_deidentified_pdf_and_sr(pacs, tmp_path, capsys):
    ob = get_testdata_file("OBXXXX1A.dcm")
    assert main(["studies", "--add", ob]) == 0
    capsys.readouterr()
    code = main(["report", ob, "--out", str(tmp_path / "out"), "--formats", "pdf,sr", "--deidentify",
                 "--send", "PACS"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "2 of 2 file(s) stored on PACS" in out
    wrapped = next((tmp_path / "out").rglob("*.pdf.dcm"))
    held = pydicom.dcmread(wrapped)
    assert held.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1" and held.PatientIdentityRemoved == "YES"
    assert str(held.PatientName) != str(pydicom.dcmread(ob, stop_before_pixels=True).PatientName)
    assert pacs.find_instance(str(held.SOPInstanceUID)) is not None
    with open_study_db() as db:
        assert db.get_study(str(pydicom.dcmread(ob, stop_before_pixels=True).StudyInstanceUID)).status == "sent"


@pytest.mark.qt_log_ignore("propagateSizeHints")  # the offscreen platform, on show()
def test_window_study_list_query_retrieve_send_and_echo(pacs, qtbot, tmp_path):
    from fetalviewer.ui.app import ensure_application
    from fetalviewer.ui.main_window import MainWindow
    from fetalviewer.ui.node_settings import NodeSettingsDialog
    from fetalviewer.ui.query_dialog import QueryDialog
    from fetalviewer.ui.send_status import SendToPacsBox

    ensure_application()
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    study_list = win.network.study_list
    assert study_list.proxy.rowCount() == 0
    # query the node and retrieve one study with progress
    dialog = QueryDialog(win)
    qtbot.addWidget(dialog)
    dialog.node_combo.setCurrentText("PACS")
    dialog.id_edit.setText("QZ-MANY-7")
    dialog.search()
    qtbot.waitUntil(lambda: dialog.results.topLevelItemCount() == 1, timeout=20000)
    dialog.results.topLevelItem(0).setSelected(True)
    steps = []
    dialog._on_retrieve_progress = lambda counts: steps.append(counts)  # noqa: SLF001 - count progress
    with qtbot.waitSignal(dialog.retrieved, timeout=30000) as got:
        dialog.retrieve_selected()
    assert got.args[0].stored == 6 and not got.args[0].cancelled and "6 instance(s) stored" in dialog.message.text()
    win.network.refresh()
    assert study_list.proxy.rowCount() == 1 and study_list.study_uid_at(0) == MANY_STUDY
    study_list.filter_edit.setText("no such patient")
    assert study_list.proxy.rowCount() == 0
    study_list.filter_edit.setText("qz-many")
    assert study_list.proxy.rowCount() == 1
    # double-click opens the study from the archive
    with qtbot.waitSignal(win.study_loaded, timeout=30000):
        study_list.open_requested.emit(MANY_STUDY)
    assert len(win.instances) == 6
    # send to PACS with one status per file (a PDF goes as Encapsulated PDF)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<< /Type /Catalog >>endobj\ntrailer<< /Root 1 0 R >>\n%%EOF\n")
    files = [*write_tiny(tmp_path / "send", 1, patient_id="SENT"), pdf]
    with open_study_db() as db:
        db.index_paths(files[:1])  # listed in the study database: "sent" once every file is stored
    box = SendToPacsBox(lambda: files)
    qtbot.addWidget(box)
    box.node_combo.setCurrentText("PACS")
    with qtbot.waitSignal(box.sent, timeout=30000) as sent:
        box.send()
    assert [s.ok for s in sent.args[0]] == [True, True] and box.table.rowCount() == 2
    assert "2 of 2 file(s) stored on PACS" in box.summary.text()
    with open_study_db() as db:
        assert [s.status for s in db.list_studies(patient_id="SENT")] == ["sent"]
    # node settings: echo from the form
    nodes = NodeSettingsDialog(win)
    qtbot.addWidget(nodes)
    nodes.reload(select="PACS")
    assert nodes.aet_edit.text() == ORTHANC_AET
    nodes.echo_node()
    qtbot.waitUntil(lambda: "DIMSE OK" in nodes.message.text(), timeout=20000)
    win.close()
