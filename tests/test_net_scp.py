"""The Storage SCP on loopback with a pynetdicom SCU: validation refuses a hostile instance (nothing
stored), the host allow list, the calling-AE allow list, audit lines without patient names."""

from __future__ import annotations

import logging

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
    assert not any("Test" in line or "Net" in line for line in lines)  # PatientName Test^Net never logged


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
