"""The Storage SCP on loopback with a pynetdicom SCU: validation refuses a hostile instance (nothing
stored), the host allow list, the calling-AE allow list, audit lines without patient names."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from fetalviewer.net.nodes import LocalAE
from fetalviewer.net.scp import StorageServer
from fetalviewer.studydb import open_study_db
from tests.net_helpers import tiny_us_dataset
from tests.orthanc_fixture import free_port


def _send(port: int, ds, calling: str = "CART1"):
    from pynetdicom import AE
    from pynetdicom.sop_class import UltrasoundImageStorage, Verification

    ae = AE(ae_title=calling)
    ae.add_requested_context(UltrasoundImageStorage, ds.file_meta.TransferSyntaxUID)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="FVTEST")
    if not assoc.is_established:
        return None
    try:
        return int(assoc.send_c_store(ds).Status)
    finally:
        assoc.release()


@pytest.fixture()
def server():
    db = open_study_db()
    local = LocalAE("FVTEST", free_port(), "127.0.0.1", allow_aets=("CART1",))
    srv = StorageServer(local, db).start()
    yield srv
    srv.stop()
    db.close()


def test_valid_instance_stored_and_audited_without_names(server, caplog):
    ds = tiny_us_dataset(patient_id="PX")
    with caplog.at_level(logging.INFO, logger="fetalviewer.audit"):
        assert _send(server.port, ds) == 0x0000
    with open_study_db() as db:
        (record,) = db.list_studies()
        assert record.study_instance_uid == ds.StudyInstanceUID and record.source == "receive:FVTEST"
    lines = [r.getMessage() for r in caplog.records if r.name == "fetalviewer.audit"]
    assert any(ds.StudyInstanceUID in line and "CART1" in line for line in lines), lines
    assert not any("Qzwx" in line or "Vyk" in line for line in lines)  # the PatientName is never logged


def test_hostile_instance_refused_and_nothing_stored(server):
    ds = tiny_us_dataset()
    ds.Rows = ds.Columns = 4096  # the header claims 16 MiB, the pixel data holds 64 bytes
    assert _send(server.port, ds) == 0xC000
    assert server.tally.refused == 1 and "Pixel Data" in server.tally.problems[0], server.tally.problems
    with open_study_db() as db:
        assert db.instance_count() == 0 and not [p for p in db.archive_dir.rglob("*") if p.is_file()]


def test_unknown_calling_ae_rejected(server):
    assert _send(server.port, tiny_us_dataset(), calling="INTRUDER") is None
    with open_study_db() as db:
        assert db.instance_count() == 0


def test_host_allow_list():
    db = open_study_db()
    local = LocalAE("FVTEST", free_port(), "127.0.0.1", allow_aets=("*",), allow_hosts=("10.9.9.9",))
    srv = StorageServer(local, db).start()
    try:
        assert _send(srv.port, tiny_us_dataset()) == 0x0124
        assert db.instance_count() == 0
    finally:
        srv.stop()
        db.close()
    with pytest.raises(ValueError, match="no calling AE title"):
        StorageServer(LocalAE("FVTEST", 1104), open_study_db())


def _self_signed(folder):
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)  # fmt: skip
    return str(cert), str(key)


def test_tls_echo_and_send_to_a_tls_storage_scp(tmp_path):
    from fetalviewer.errors import NodeError
    from fetalviewer.net.echo import echo
    from fetalviewer.net.nodes import Node
    from fetalviewer.net.send import send_files
    from tests.net_helpers import write_tiny

    cert, key = _self_signed(tmp_path)
    db = open_study_db()
    scp = LocalAE("FVTLS", free_port(), "127.0.0.1", tls_cert_file=cert, tls_key_file=key, allow_aets=("CART1",))
    server = StorageServer(scp, db).start()
    try:
        node = Node("TLSNODE", "FVTLS", "127.0.0.1", server.port, tls=True, tls_ca_file=cert)
        caller = LocalAE("CART1", 11112)
        (result,) = echo(node, caller)
        assert result.protocol == "DIMSE"
        statuses = send_files(node, caller, write_tiny(tmp_path / "f", 2))
        assert [s.ok for s in statuses] == [True, True] and db.instance_count() == 2
        plain = Node("PLAIN", "FVTLS", "127.0.0.1", server.port)  # no TLS: the TLS server does not answer
        with pytest.raises(NodeError, match="PLAIN"):
            echo(plain, caller)
    finally:
        server.stop()
        db.close()


def test_refusing_node_exits_2_naming_node_and_reason(server, capsys):
    from fetalviewer.cli import main

    assert main(["nodes", "add", "PICKY", "--aet", "FVTEST", "--host", "127.0.0.1", "--port", str(server.port)]) == 0
    capsys.readouterr()
    assert main(["nodes", "echo", "PICKY"]) == 2  # we call as FETALVIEWER, which is not on its allow list
    message = capsys.readouterr().err
    assert "PICKY" in message and "rejected" in message and "calling ae title not recognised" in message.lower(), message
    assert "Traceback" not in message


@pytest.mark.qt_log_ignore("propagateSizeHints")  # the offscreen platform, on show()
def test_window_receives_in_the_background_and_lists_the_study(qtbot):
    from fetalviewer.settings import update_settings
    from fetalviewer.ui.app import ensure_application
    from fetalviewer.ui.main_window import MainWindow

    port = free_port()
    update_settings(local_aet="FVWIN", local_port=port, local_bind_host="127.0.0.1", receive_allow_aets=["CART1"])
    ensure_application()
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    win.actions["network_receive"].setChecked(True)
    assert win.network.server is not None and win.network.server.port == port
    ds = tiny_us_dataset(patient_id="QZ-RECV-1")
    with qtbot.waitSignal(win.network.received, timeout=20000):
        assert _send(port, ds) == 0x0000
    qtbot.waitUntil(lambda: win.network.study_list.proxy.rowCount() == 1, timeout=10000)
    assert win.network.study_list.study_uid_at(0) == ds.StudyInstanceUID
    assert "Received" in win.statusBar().currentMessage()
    win.actions["network_receive"].setChecked(False)
    assert win.network.server is None and _send(port, tiny_us_dataset()) is None  # stopped: nobody listens
    win.close()


def test_send_streams_the_file_and_the_archive_keeps_its_bytes(server, tmp_path):
    """`send` streams each data set from disk as stored (no decode and re-encode): the receiver's
    archive file holds the sender's data set byte for byte (a JPEG cine, encapsulated fragments)."""
    import shutil

    from pydicom.data import get_testdata_file
    from pynetdicom.dsutils import split_dataset

    from fetalviewer.net.nodes import Node
    from fetalviewer.net.send import send_files

    path = Path(shutil.copy(get_testdata_file("color3d_jpeg_baseline.dcm"), tmp_path / "cine.dcm"))
    (status,) = send_files(Node("SCP", "FVTEST", "127.0.0.1", server.port), LocalAE("CART1", 11112), [path])
    assert status.ok, status.detail
    with open_study_db() as db:
        (stored,) = db.instance_paths(status.study_instance_uid)
    sent_body = path.read_bytes()[split_dataset(path)[1] :]
    assert stored.read_bytes()[split_dataset(stored)[1] :] == sent_body
