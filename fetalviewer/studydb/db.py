"""The local study database: SQLite in WAL mode (one writer and many readers across processes, e.g. the
window and ``fetalviewer receive``), every change in one transaction, so a crash (even ``kill -9``) loses
nothing that was committed. A database file that SQLite finds corrupt is moved aside and rebuilt by
rescanning the archive folder; :attr:`StudyDB.recovery_message` then says what happened.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from fetalviewer.paths import user_dirs
from fetalviewer.studydb.archive import archive_path, is_valid_uid, stage_part10
from fetalviewer.studydb.schema import SCHEMA, SCHEMA_VERSION

log = logging.getLogger(__name__)

#: Study workflow states, in order.
STATUSES = ("new", "analysed", "reported", "sent")
DB_FILE_NAME = "studies.sqlite"


@dataclass(frozen=True)
class StudyRecord:
    """One study as the database knows it (counts derived from the indexed instances)."""

    study_instance_uid: str
    patient_name: str
    patient_id: str
    patient_birth_date: str
    study_date: str
    study_time: str
    accession_number: str
    study_description: str
    modalities: tuple[str, ...]
    n_series: int
    n_instances: int
    source: str
    status: str
    added_at: str
    updated_at: str
    paths: tuple[str, ...] = ()

    def to_json(self) -> dict:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["modalities"], out["paths"] = list(self.modalities), list(self.paths)
        return out


@dataclass
class IndexResult:
    """What one indexing call did; ``problems`` name each file that was not indexed and why."""

    indexed: int = 0
    skipped: int = 0
    study_uids: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _text(ds, keyword: str) -> str:
    """``ds``'s value as text ('' when absent); ``ValueError`` names a value that cannot be read (an
    unknown VR, a damaged length: pydicom raises many kinds, only when the value is first read)."""
    try:
        value = ds.get(keyword, "")
        return "" if value is None else str(value)
    except Exception as exc:  # noqa: BLE001 - see above
        raise ValueError(f"{keyword} cannot be read ({type(exc).__name__}: {str(exc)[:120]})") from None


@dataclass(frozen=True)
class _InstanceRow:
    """Everything the index keeps of one instance, read from its header before anything is written."""

    study: str
    series: str
    sop: str
    study_values: tuple[str, ...]
    series_values: tuple[str, ...]
    sop_class: str
    syntax: str
    n_frames: int


def _instance_row(ds, path: str | os.PathLike[str]) -> _InstanceRow:
    """``ValueError`` names a missing or malformed UID, or a value that cannot be read."""
    uids = {k: _text(ds, k) for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")}
    for keyword, uid in uids.items():
        if not is_valid_uid(uid):
            raise ValueError(f"{path}: {keyword} {uid!r} is missing or not a valid UID")
    meta = getattr(ds, "file_meta", None)
    syntax = str(getattr(meta, "TransferSyntaxUID", "") or "") if meta is not None else ""
    try:
        n_frames = max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except Exception:  # noqa: BLE001 - a damaged count is indexed as one frame; the viewer checks it again
        n_frames = 1
    study_keys = ("PatientName", "PatientID", "PatientBirthDate", "StudyDate", "StudyTime", "AccessionNumber",
                  "StudyDescription")  # fmt: skip
    return _InstanceRow(
        uids["StudyInstanceUID"], uids["SeriesInstanceUID"], uids["SOPInstanceUID"],
        tuple(_text(ds, k) for k in study_keys),
        tuple(_text(ds, k) for k in ("Modality", "SeriesNumber", "SeriesDescription")),
        _text(ds, "SOPClassUID"), syntax, n_frames,
    )  # fmt: skip


class StudyDB:
    """A connection to the study database. Thread-safe (one lock per object); open one per process."""

    def __init__(self, db_path: str | os.PathLike[str], archive_dir: str | os.PathLike[str]) -> None:
        self.path = Path(db_path)
        self.archive_dir = Path(archive_dir)
        self.recovery_message: str | None = None
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.archive_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = self._connect()
            self._check()
        except sqlite3.DatabaseError as exc:
            self._recover(str(exc))

    # -- connection, recovery ---------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _check(self) -> None:
        row = self._conn.execute("PRAGMA quick_check").fetchone()
        if row is None or row[0] != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {row[0] if row else 'no answer'}")
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        with self.transaction() as conn:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            if version == 0:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _recover(self, reason: str) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                os.replace(src, Path(str(aside) + suffix))
        self._conn = self._connect()
        self._check()
        result = self.rescan_archive()
        self.recovery_message = (
            f"The study database {self.path} was unreadable ({reason}); it was moved to {aside.name} and "
            f"rebuilt from the archive folder {self.archive_dir}: {result.indexed} instance(s) of "
            f"{len(result.study_uids)} study(ies). Folders opened in place must be opened again to be listed."
        )
        log.warning("%s", self.recovery_message)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` .. ``COMMIT`` (``ROLLBACK`` on any exception), under this object's lock."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> StudyDB:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- indexing ---------------------------------------------------------------------------------------
    def index_dataset(self, ds, path: str | os.PathLike[str], source: str, in_archive: bool = False) -> str:
        """Index one instance whose header is ``ds`` (pixel data not needed) stored at ``path``.

        Returns the StudyInstanceUID; ``ValueError`` names a missing or malformed UID or an unreadable
        value."""
        return self._index_row(_instance_row(ds, path), path, source, in_archive)

    def _index_row(
        self, row: _InstanceRow, path: str | os.PathLike[str], source: str, in_archive: bool
    ) -> str:
        study, series, sop = row.study, row.series, row.sop
        now = _now()
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO studies (study_instance_uid, patient_name, patient_id, patient_birth_date, "
                "study_date, study_time, accession_number, study_description, source, status, added_at, "
                "updated_at) VALUES (?,?,?,?,?,?,?,?,?, 'new', ?, ?) ON CONFLICT(study_instance_uid) DO "
                "UPDATE SET updated_at = excluded.updated_at, "
                "patient_name = CASE WHEN patient_name = '' THEN excluded.patient_name ELSE patient_name END, "
                "patient_id = CASE WHEN patient_id = '' THEN excluded.patient_id ELSE patient_id END, "
                "study_description = CASE WHEN study_description = '' THEN excluded.study_description "
                "ELSE study_description END",
                (study, *row.study_values, source, now, now),
            )  # fmt: skip
            conn.execute(
                "INSERT INTO series (series_instance_uid, study_instance_uid, modality, series_number, "
                "series_description) VALUES (?,?,?,?,?) ON CONFLICT(series_instance_uid) DO NOTHING",
                (series, study, *row.series_values),
            )  # fmt: skip
            conn.execute(
                "INSERT INTO instances (sop_instance_uid, series_instance_uid, study_instance_uid, "
                "sop_class_uid, transfer_syntax_uid, n_frames, path, in_archive, source, added_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(sop_instance_uid) DO UPDATE SET "
                "path = CASE WHEN in_archive = 1 AND excluded.in_archive = 0 THEN path ELSE excluded.path END, "
                "in_archive = MAX(in_archive, excluded.in_archive), transfer_syntax_uid = "
                "excluded.transfer_syntax_uid, n_frames = excluded.n_frames",
                (sop, series, study, row.sop_class, row.syntax, row.n_frames, str(Path(path).resolve()),
                 int(in_archive), source, now),
            )  # fmt: skip
        return study

    def index_file(self, path: str | os.PathLike[str], source: str | None = None,
                   in_archive: bool = False) -> str:  # fmt: skip
        """Read ``path``'s header (no pixel data) and index it; ``ValueError`` names an unreadable file."""
        import pydicom
        from pydicom.errors import InvalidDicomError

        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path}: not readable as DICOM ({exc})") from exc
        return self.index_dataset(ds, path, source or f"folder:{Path(path).parent}", in_archive)

    def index_paths(self, paths: Iterable[str | os.PathLike[str]], source: str | None = None,
                    in_archive: bool = False,
                    progress: Callable[[int, Path], None] | None = None) -> IndexResult:  # fmt: skip
        """Index files and folders (walked recursively, ``DICOMDIR`` skipped) in place, one transaction
        per file; non-DICOM files are counted as skipped with a problem line each."""
        result = IndexResult()
        for file_path in walk_files(paths):
            try:
                uid = self.index_file(file_path, source, in_archive)
            except ValueError as exc:
                result.skipped += 1
                result.problems.append(str(exc))
                continue
            result.indexed += 1
            result.study_uids.add(uid)
            if progress is not None:
                progress(result.indexed, file_path)
        return result

    def index_folder(self, folder: str | os.PathLike[str], source: str | None = None) -> IndexResult:
        return self.index_paths([folder], source or f"folder:{Path(folder).resolve()}")

    def rescan_archive(self) -> IndexResult:
        """Index every file of the archive folder (temporary ``.part`` files of interrupted writes are
        removed first: they were never indexed)."""
        for part in self.archive_dir.rglob(".*.part"):
            with contextlib.suppress(OSError):
                part.unlink()
        return self.index_paths([self.archive_dir], source="archive", in_archive=True)

    def store_received(self, file_meta_bytes: bytes, dataset_bytes: bytes, ds, source: str) -> Path:
        """Write a received or retrieved instance into the archive (encoding kept byte for byte) and index
        it; ``ds`` is its decoded header. See :meth:`file_staged`."""
        return self.file_staged(stage_part10(self.archive_dir, file_meta_bytes, dataset_bytes), ds, source)

    def stage(self, file_meta_bytes: bytes, dataset_bytes: bytes | memoryview) -> Path:
        """A hidden Part 10 file in the archive folder, for :meth:`file_staged` once it has been checked."""
        return stage_part10(self.archive_dir, file_meta_bytes, dataset_bytes)

    def file_staged(self, staged: Path, ds, source: str) -> Path:
        """Rename a staged file (:meth:`stage`) into its archive place and index it; ``ds`` is its decoded
        header. Every value the index needs is read before the rename, so a header that cannot be indexed
        (``ValueError``) changes nothing in the archive; the staged file is removed on any failure. The
        file is in place before the row commits: a crash between the two leaves a file that
        :meth:`rescan_archive` indexes, never a row without its file."""
        try:
            row = _instance_row(ds, "received instance")
            target = archive_path(self.archive_dir, row.study, row.series, row.sop)
            self._check_same_filing(row.study, row.series, row.sop)
            replacing = target.exists()
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
        except BaseException:
            with contextlib.suppress(OSError):
                staged.unlink()
            raise
        try:
            self._index_row(row, target, source, in_archive=True)
        except BaseException:
            if not replacing:  # a replaced copy keeps its row, which names this same path
                with contextlib.suppress(OSError):
                    target.unlink()
            raise
        return target

    def _check_same_filing(self, study: str, series: str, sop: str) -> None:
        """``ValueError`` when the SOP instance is indexed already under another study or series: one
        SOP Instance UID names one instance (PS3.3 C.12.1.1.1), so a copy filed elsewhere is a conflict
        for a person to resolve; overwriting would leave the first file without its row, or its row
        pointing at the wrong study. The same instance sent again replaces its earlier copy."""
        with self._lock:
            row = self._conn.execute(
                "SELECT study_instance_uid, series_instance_uid FROM instances WHERE sop_instance_uid = ?",
                (sop,),
            ).fetchone()
        if row is not None and (row[0], row[1]) != (study, series):
            raise ValueError(
                f"SOP instance {sop} is filed already under study {row[0]}, series {row[1]}; "
                f"this copy names study {study}, series {series}"
            )

    # -- queries and updates ----------------------------------------------------------------------------
    def list_studies(self, patient_id: str | None = None, with_paths: bool = False) -> list[StudyRecord]:
        """Every study, newest study date first; ``patient_id`` filters exactly."""
        where, params = ("WHERE s.patient_id = ?", [patient_id]) if patient_id else ("", [])
        with self._lock:
            rows = self._conn.execute(
                "SELECT s.*, (SELECT COUNT(*) FROM series r WHERE r.study_instance_uid = s.study_instance_uid)"
                " AS n_series, (SELECT COUNT(*) FROM instances i WHERE i.study_instance_uid = "
                "s.study_instance_uid) AS n_instances, (SELECT GROUP_CONCAT(DISTINCT r.modality) FROM series r "
                f"WHERE r.study_instance_uid = s.study_instance_uid) AS modalities FROM studies s {where} "
                "ORDER BY s.study_date DESC, s.study_time DESC, s.added_at DESC",
                params,
            ).fetchall()
        return [self._record(row, with_paths) for row in rows]

    def get_study(self, study_uid: str, with_paths: bool = True) -> StudyRecord | None:
        return next((s for s in self.list_studies(with_paths=with_paths) if s.study_instance_uid == study_uid),
                    None)  # fmt: skip

    def instance_paths(self, study_uid: str) -> list[Path]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT path FROM instances WHERE study_instance_uid = ? ORDER BY series_instance_uid, path",
                (study_uid,),
            ).fetchall()
        return [Path(r[0]) for r in rows]

    def instance_count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM instances").fetchone()[0])

    def set_status(self, study_uid: str, status: str) -> None:
        """Set a study's workflow status (one of :data:`STATUSES`); ``KeyError`` for an unknown study."""
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE studies SET status = ?, updated_at = ? WHERE study_instance_uid = ?",
                (status, _now(), study_uid),
            )
            if cursor.rowcount == 0:
                raise KeyError(f"study {study_uid} is not in the database")

    def remove_study(self, study_uid: str) -> None:
        """Forget a study (rows only; files stay where they are)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM instances WHERE study_instance_uid = ?", (study_uid,))
            conn.execute("DELETE FROM series WHERE study_instance_uid = ?", (study_uid,))
            conn.execute("DELETE FROM studies WHERE study_instance_uid = ?", (study_uid,))

    def _record(self, row: sqlite3.Row, with_paths: bool) -> StudyRecord:
        uid = row["study_instance_uid"]
        paths = tuple(str(p) for p in self.instance_paths(uid)) if with_paths else ()
        modalities = tuple(sorted(m for m in (row["modalities"] or "").split(",") if m))
        return StudyRecord(
            uid, row["patient_name"], row["patient_id"], row["patient_birth_date"], row["study_date"],
            row["study_time"], row["accession_number"], row["study_description"], modalities,
            int(row["n_series"]), int(row["n_instances"]), row["source"], row["status"], row["added_at"],
            row["updated_at"], paths,
        )  # fmt: skip


def walk_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    for item in paths:
        item = Path(item)
        if item.is_dir():
            for root, dirs, files in os.walk(item):
                dirs.sort()
                for name in sorted(files):
                    if name.upper() != "DICOMDIR" and not name.startswith("."):
                        yield Path(root) / name
        elif item.is_file() and item.name.upper() != "DICOMDIR":
            yield item


def open_study_db(data_dir: str | os.PathLike[str] | None = None) -> StudyDB:
    """The database of the user data folder (``<data>/studies.sqlite``, archive ``<data>/archive``)."""
    data = Path(data_dir) if data_dir is not None else user_dirs().data_dir
    return StudyDB(data / DB_FILE_NAME, data / "archive")


def mark_status(study_uids, status: str, data_dir: str | os.PathLike[str] | None = None) -> int:
    """Set ``status`` on each listed study the database knows (others are skipped); returns how many."""
    changed = 0
    with open_study_db(data_dir) as db:
        for uid in dict.fromkeys(study_uids):
            try:
                db.set_status(uid, status)
            except KeyError:
                continue
            changed += 1
    return changed
