"""The ``scp-net`` fuzz target: mutants sent over real DIMSE associations to ``fetalviewer receive``.

Each mutant's data set goes on the wire as its mutated bytes: the sender writes a clean File Meta group
(the mutant's own when it parses and names a (SOP class, transfer syntax) pair the SCP accepts, else the
seed's) in front of the mutant's data set bytes and lets pynetdicom stream that file without decoding it
(``STORE_SEND_CHUNKED_DATASET``), so no pydicom round trip repairs the damage.

Checked for every mutant (:meth:`NetTarget.check`):

* the SCP answers the C-STORE within the timeout with 0x0000 (stored) or 0xC000 (refused: cannot
  understand, PS3.4 B.2.3); no reply, an abort or any other status (0xC211: the handler raised) is a
  failure to examine;
* the SCP process is alive and answers a C-ECHO on a new association afterwards;
* the archive and the study database agree: no temporary (``.part``) file, no file in the SCP's TMPDIR,
  every archive file has its instances row and every row its file;
* a refused data set changed nothing; an accepted one changed exactly one archive file, which holds the
  data set byte for byte and passes the SCP's own check (UIDs, ``check_dataset``) when read back.
"""

from __future__ import annotations

import contextlib
import sqlite3
import struct
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests.fuzz.mutate import Mutant, seed_bytes
from tests.fuzz.scp_process import CALLER_AET, SCP_AET, ScpProcess

#: Seconds the sender waits for the association and for each DIMSE reply.
REPLY_TIMEOUT_S = 30.0
ACCEPTED = {0x0000: "stored", 0xC000: "refused"}


@dataclass(frozen=True)
class Wire:
    """What goes on the wire for one mutant: the pair, the affected UIDs and the data set bytes."""

    sop_class: str
    sop_instance: str
    transfer_syntax: str
    body: bytes


@cache
def accepted_pairs() -> frozenset[tuple[str, str]]:
    from fetalviewer.net.contexts import supported_storage_contexts

    return frozenset(
        (cx.abstract_syntax, ts) for cx in supported_storage_contexts() for ts in cx.transfer_syntax
    )


def _split(data: bytes) -> tuple[dict, int]:
    """The File Meta values and where the data set starts (ValueError when the meta does not parse)."""
    from io import BytesIO

    from pydicom.filereader import read_dataset, read_preamble

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fp = BytesIO(data)
            read_preamble(fp, False)
            meta = read_dataset(fp, is_implicit_VR=False, is_little_endian=True,
                                stop_when=lambda tag, vr, length: tag.group != 2)  # fmt: skip
            values = {k: str(meta.get(k, "") or "") for k in
                      ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID")}  # fmt: skip
            return values, fp.tell()
        except Exception as exc:  # noqa: BLE001 - any damage: the caller falls back to the seed
            raise ValueError(str(exc)) from None


def wire_for(mutant: Mutant) -> Wire:
    """The mutant's data set bytes with the pair and UIDs a sender would put in the command set."""
    from fetalviewer.studydb import is_valid_uid

    seed_meta, seed_offset = _split(seed_bytes(mutant.source))
    try:
        meta, offset = _split(mutant.data)
    except ValueError:
        meta, offset = seed_meta, seed_offset
    pair = (meta["MediaStorageSOPClassUID"], meta["TransferSyntaxUID"])
    if pair not in accepted_pairs():
        pair = (seed_meta["MediaStorageSOPClassUID"], seed_meta["TransferSyntaxUID"])
    instance = meta["MediaStorageSOPInstanceUID"]
    if not is_valid_uid(instance):
        instance = seed_meta["MediaStorageSOPInstanceUID"]
    return Wire(pair[0], instance, pair[1], mutant.data[min(offset, len(mutant.data)) :])


def write_wire_file(wire: Wire, path: Path) -> Path:
    """A Part 10 file (PS3.10 7.1) of a clean meta group and ``wire.body`` as it is, for chunked sending."""
    from io import BytesIO

    from pydicom.dataset import FileMetaDataset
    from pydicom.filewriter import write_file_meta_info

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = wire.sop_class
    meta.MediaStorageSOPInstanceUID = wire.sop_instance
    meta.TransferSyntaxUID = wire.transfer_syntax
    buf = BytesIO()
    write_file_meta_info(buf, meta, enforce_standard=True)
    path.write_bytes(b"\0" * 128 + b"DICM" + buf.getvalue() + wire.body)
    return path


def caller_ae(aet: str = CALLER_AET):
    from pynetdicom import AE

    ae = AE(ae_title=aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = REPLY_TIMEOUT_S
    ae.connection_timeout = 10
    return ae


@contextlib.contextmanager
def chunked_sending():
    """pynetdicom streams a file's data set bytes as they are instead of decoding and re-encoding it."""
    from pynetdicom import _config

    old = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        yield
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = old


def send_file(port: int, path: Path, wire: Wire) -> tuple[int | None, str]:
    """C-STORE the file's data set; (status or None, what happened)."""
    from pynetdicom.presentation import build_context

    ae = caller_ae()
    assoc = ae.associate("127.0.0.1", port, contexts=[build_context(wire.sop_class, [wire.transfer_syntax])],
                         ae_title=SCP_AET)  # fmt: skip
    if not assoc.is_established:
        return None, "association not established"
    try:
        with chunked_sending(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            status = assoc.send_c_store(path)
    except Exception as exc:  # noqa: BLE001 - the sender side failing is reported, not raised
        assoc.abort()
        return None, f"sending failed ({type(exc).__name__}: {exc})"
    if status is None or "Status" not in status:
        aborted = assoc.is_aborted
        if assoc.is_established:
            assoc.abort()
        return None, "association aborted" if aborted else f"no reply within {REPLY_TIMEOUT_S:.0f} s"
    assoc.release()
    return int(status.Status), ""


def echo(port: int) -> bool:
    """A C-ECHO on a new association (PS3.7 9.1.5) answered with success."""
    from pynetdicom.sop_class import Verification

    ae = caller_ae()
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title=SCP_AET)
    if not assoc.is_established:
        return False
    try:
        status = assoc.send_c_echo()
        return status is not None and int(status.get("Status", -1)) == 0
    finally:
        if assoc.is_established:
            assoc.release()


Snapshot = dict[str, tuple[int, int]]


class NetTarget:
    """One ``fetalviewer receive`` for a whole run; :meth:`check` sends one mutant and judges it."""

    def __init__(self, work: Path) -> None:
        self.work = Path(work)
        self.scp = ScpProcess(self.work / "scp")
        self.outbox = self.work / "outbox"
        self.outbox.mkdir(parents=True, exist_ok=True)
        self.statuses: dict[str, int] = {}

    def start(self) -> NetTarget:
        self.scp.start()
        return self

    def stop(self) -> int | None:
        return self.scp.stop()

    # -- the state the SCP leaves ---------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        out: Snapshot = {}
        if self.scp.archive_dir.exists():
            for p in self.scp.archive_dir.rglob("*"):
                if p.is_file():
                    st = p.stat()
                    out[str(p)] = (st.st_size, st.st_mtime_ns)
        return out

    def indexed_paths(self) -> set[str]:
        if not self.scp.db_path.exists():
            return set()
        conn = sqlite3.connect(self.scp.db_path, timeout=10)
        try:
            return {str(r[0]) for r in conn.execute("SELECT path FROM instances")}
        except sqlite3.OperationalError:  # no table yet
            return set()
        finally:
            conn.close()

    def consistency_problems(self, snap: Snapshot) -> list[str]:
        """One line per temporary file, archive file without its row, and row without its file."""
        temporary = {p for p in snap if Path(p).name.startswith(".") or p.endswith((".part", ".tmp"))}
        problems = [f"temporary file in the archive: {p}" for p in sorted(temporary)]
        stray = sorted(str(p) for p in self.scp.tmp.rglob("*") if p.is_file())
        problems += [f"file left in the SCP's TMPDIR: {p}" for p in stray]
        files, rows = set(snap) - temporary, self.indexed_paths()
        problems += [f"archive file without a database row: {p}" for p in sorted(files - rows)]
        problems += [f"database row without a file: {p}" for p in sorted(rows - files)]
        return problems

    def alive_problems(self) -> list[str]:
        if not self.scp.alive():
            return [f"the SCP process died (exit {self.scp.proc.returncode}): {self.scp.tail()}"]
        if not echo(self.scp.port):
            return ["the SCP did not answer a C-ECHO afterwards"]
        return []

    # -- one mutant -------------------------------------------------------------------------------------
    def check(self, mutant: Mutant) -> list[str]:
        """The problems found sending ``mutant`` (empty: every invariant held)."""
        wire = wire_for(mutant)
        path = write_wire_file(wire, self.outbox / mutant.name)
        before = self.snapshot()
        known = set(self.consistency_problems(before))  # reported once, by the mutant that made them
        try:
            status, what = send_file(self.scp.port, path, wire)
        finally:
            path.unlink(missing_ok=True)
        key = "no reply" if status is None else f"0x{status:04X}"
        self.statuses[key] = self.statuses.get(key, 0) + 1
        problems = []
        if status is None:
            problems.append(f"C-STORE: {what}")
        elif status not in ACCEPTED:
            problems.append(f"C-STORE answered 0x{status:04X} (expected 0x0000 stored or 0xC000 refused)")
        problems += self.alive_problems()
        after = self.snapshot()
        problems += [p for p in self.consistency_problems(after) if p not in known]
        changed = sorted(p for p in after if before.get(p) != after[p])
        gone = sorted(set(before) - set(after))
        if gone:
            problems.append(f"archive files disappeared: {gone[:3]}")
        if status == 0x0000:
            if len(changed) != 1:
                problems.append(f"stored, but {len(changed)} archive files changed: {changed[:3]}")
            for p in changed:
                problems += _stored_file_problems(Path(p), wire.body)
        elif changed:
            problems.append(f"not stored, but archive files changed: {changed[:3]}")
        return problems


def _stored_file_problems(path: Path, body: bytes) -> list[str]:
    """An accepted file holds the data set as sent and passes the SCP's checks when read back."""
    import pydicom

    from fetalviewer.errors import FetalViewerError
    from fetalviewer.net.validate import validate_received

    data = path.read_bytes()
    problems = []
    if not data.endswith(body):
        problems.append(f"{path.name}: the stored data set differs from the bytes sent")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
            validate_received(ds, str(path))
    except FetalViewerError as exc:
        problems.append(f"accepted, but the stored file fails the check when read back: {exc}")
    except Exception as exc:  # noqa: BLE001
        problems.append(f"accepted, but the stored file does not read back ({type(exc).__name__}: {exc})")
    return problems


def pdu(kind: int, payload: bytes) -> bytes:
    """A PDU (PS3.8 9.3.1): type, reserved byte, 4-byte big-endian length, payload."""
    return struct.pack(">BBL", kind, 0, len(payload)) + payload
