"""fetalviewer.studydb: the local study database and the archive folder (Qt-free, sqlite3 only).

Public API::

    from fetalviewer.studydb import open_study_db
    db = open_study_db()                       # <data>/studies.sqlite, WAL mode
    db.index_folder("/exams/2026-12-01")       # opened folders are indexed in place, not copied
    db.store_received(raw_file_bytes, source="node:PACS")   # archive + index (retrieved/received)
    for study in db.list_studies(patient_id="123"):
        print(study.study_instance_uid, study.n_instances, study.status)
    db.set_status(uid, "analysed")

The database file is an index: everything in it can be rebuilt from the archive folder
(``<data>/archive/<StudyUID>/<SeriesUID>/<SOPUID>.dcm``), which is what happens when the database file
is found corrupt (it is moved aside first, and :attr:`StudyDB.recovery_message` says so).
"""

from fetalviewer.studydb.archive import archive_path, archive_root, is_valid_uid
from fetalviewer.studydb.db import STATUSES, IndexResult, StudyDB, StudyRecord, mark_status, open_study_db

__all__ = [
    "STATUSES",
    "IndexResult",
    "StudyDB",
    "StudyRecord",
    "archive_path",
    "archive_root",
    "is_valid_uid",
    "mark_status",
    "open_study_db",
]
