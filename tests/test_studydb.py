"""The study database: indexing in place, archive writes, status, concurrency, kill -9, corruption."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from fetalviewer.cli import main
from fetalviewer.studydb import STATUSES, open_study_db
from tests.net_helpers import write_tiny

REPO = Path(__file__).resolve().parent.parent


def test_index_folder_in_place_lists_counts_and_status(tmp_path):
    study = "1.2.826.0.1.3680043.8.498.1"
    files = write_tiny(tmp_path / "exam", 3, study_uid=study, patient_id="P7")
    (tmp_path / "exam" / "notes.txt").write_text("not dicom")
    with open_study_db() as db:
        result = db.index_folder(tmp_path / "exam")
        assert (result.indexed, result.skipped) == (3, 1)
        assert "notes.txt" in result.problems[0]
        (record,) = db.list_studies(patient_id="P7", with_paths=True)
        assert record.study_instance_uid == study and record.n_instances == 3 and record.n_series == 3
        assert record.modalities == ("US",) and record.status == "new"
        assert sorted(record.paths) == sorted(str(p.resolve()) for p in files)  # indexed in place
        assert not any(db.archive_dir.rglob("*.dcm"))  # not copied
        db.set_status(study, "reported")
        assert db.get_study(study).status == "reported"
        with pytest.raises(ValueError, match="not one of"):
            db.set_status(study, "lost")
        with pytest.raises(KeyError):
            db.set_status("1.2.3", "sent")
        assert db.list_studies(patient_id="nobody") == []
    assert STATUSES == ("new", "analysed", "reported", "sent")


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_store_received_keeps_bytes_and_rejects_bad_uids(tmp_path):
    import pydicom
    from pydicom.filewriter import write_file_meta_info

    source = Path(get_testdata_file("US1_J2KR.dcm"))
    ds = pydicom.dcmread(source)
    raw = source.read_bytes()
    with open_study_db() as db:
        from io import BytesIO

        buf = BytesIO()
        write_file_meta_info(buf, ds.file_meta)
        meta = buf.getvalue()
        body = raw[raw.index(b"DICM") + 4 + len(meta):]
        target = db.store_received(meta, body, ds, source="node:TEST")
        assert target == db.archive_dir / ds.StudyInstanceUID / ds.SeriesInstanceUID / f"{ds.SOPInstanceUID}.dcm"
        assert pydicom.dcmread(target).PixelData == ds.PixelData
        assert db.get_study(ds.StudyInstanceUID).source == "node:TEST"
        ds.SOPInstanceUID = "../../evil"
        with pytest.raises(ValueError, match="SOPInstanceUID '../../evil' is missing or not a valid UID"):
            db.store_received(meta, body, ds, source="node:TEST")
        assert db.instance_count() == 1
        assert [p for p in db.archive_dir.rglob("*") if p.is_file()] == [target]  # no staged copy left
        ds.SOPInstanceUID = target.stem
        assert db.store_received(meta, body, ds, source="node:TEST") == target  # sent again: replaced
        first_series, ds.SeriesInstanceUID = ds.SeriesInstanceUID, ds.SeriesInstanceUID + ".9"
        with pytest.raises(ValueError, match="filed already under study"):
            db.store_received(meta, body, ds, source="node:TEST")
        files = [p for p in db.archive_dir.rglob("*") if p.is_file()]
        assert files == [target] and db.instance_paths(ds.StudyInstanceUID) == [target.resolve()]
        assert first_series in str(target)


def test_studies_command_json(tmp_path, capsys):
    write_tiny(tmp_path / "a", 2, study_uid="1.2.826.0.1.3680043.8.498.2", patient_id="PA")
    write_tiny(tmp_path / "b", 1, patient_id="PB")
    assert main(["studies", "--add", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    capsys.readouterr()
    assert main(["studies", "--patient-id", "PA", "--json", "-"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["patient_id"] for r in records] == ["PA"] and records[0]["n_instances"] == 2
    assert {"study_instance_uid", "n_series", "status", "paths"} <= set(records[0])
    assert main(["studies", "--set-status", records[0]["study_instance_uid"], "bogus"]) == 2


def test_concurrent_reader_and_writer_processes(tmp_path):
    """A writer process (as ``fetalviewer receive``) and a reader (as the window) share the database."""
    write_tiny(tmp_path / "in", 40)
    script = textwrap.dedent(f"""
        from fetalviewer.studydb import open_study_db
        db = open_study_db()
        db.index_folder({str(tmp_path / 'in')!r})
    """)
    writer = subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ, PYTHONPATH=str(REPO)))
    seen, errors = [], []
    with open_study_db() as db:
        while writer.poll() is None:
            try:
                seen.append(db.instance_count())
                db.list_studies()
            except sqlite3.Error as exc:  # pragma: no cover - the failure this test looks for
                errors.append(exc)
            time.sleep(0.005)
        assert writer.wait() == 0 and not errors
        assert seen == sorted(seen)  # readers never see a count go back
        assert db.instance_count() == 40


def test_kill_9_during_indexing_loses_nothing_committed(tmp_path):
    files = write_tiny(tmp_path / "in", 60)
    script = textwrap.dedent(f"""
        import sys
        import pydicom
        from io import BytesIO
        from pydicom.filewriter import write_file_meta_info
        from fetalviewer.studydb import open_study_db
        db = open_study_db()
        for k, path in enumerate({[str(f) for f in files]!r}, start=1):
            raw = open(path, 'rb').read()
            ds = pydicom.dcmread(path)
            buf = BytesIO(); write_file_meta_info(buf, ds.file_meta)
            meta = buf.getvalue()
            db.store_received(meta, raw[132 + len(meta):], ds, source='test')
            print(k, flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONPATH=str(REPO)))  # fmt: skip
    committed = 0
    for line in child.stdout:
        committed = int(line)
        if committed >= 15:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert committed >= 15
    with open_study_db() as db:
        assert db.recovery_message is None
        count = db.instance_count()
        assert committed <= count < 60
        on_disk = {p for p in db.archive_dir.rglob("*.dcm")}
        indexed = {p for s in db.list_studies(with_paths=True) for p in map(Path, s.paths)}
        assert indexed <= on_disk  # no row without its file
        db.rescan_archive()  # a file written just before the kill is picked up, nothing else changes
        assert db.instance_count() == len(on_disk) and not list(db.archive_dir.rglob(".*.part"))


def test_corrupt_database_moved_aside_and_rebuilt_from_archive(tmp_path):
    files = write_tiny(tmp_path / "in", 4)
    with open_study_db() as db:
        from io import BytesIO

        import pydicom
        from pydicom.filewriter import write_file_meta_info

        for path in files:
            ds = pydicom.dcmread(path)
            buf = BytesIO()
            write_file_meta_info(buf, ds.file_meta)
            db.store_received(buf.getvalue(), path.read_bytes()[132 + len(buf.getvalue()):], ds, "node:X")
        db.index_folder(tmp_path / "in")  # the same instances: already archived rows keep the archive path
        db_path = db.path
    db_path.write_bytes(b"this is not an SQLite file" * 100)
    for suffix in ("-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    with open_study_db() as db:
        assert db.recovery_message and "moved to" in db.recovery_message
        assert db.instance_count() == 4
        assert list(db_path.parent.glob("studies.sqlite.corrupt-*"))


def test_concurrent_threads_share_one_connection(tmp_path):
    write_tiny(tmp_path / "t", 20)
    with open_study_db() as db:
        threads = [threading.Thread(target=db.index_folder, args=(tmp_path / "t",)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert db.instance_count() == 20
