"""The archive folder: received and retrieved instances, one file per SOP instance.

Layout ``<data>/archive/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``. UIDs are checked
against the PS3.5 section 9 syntax (digits and dots, at most 64 characters) before they become path parts,
so a hostile UID cannot escape the folder. Files are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from fetalviewer.atomic import atomic_path
from fetalviewer.paths import user_dirs

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def is_valid_uid(uid: object) -> bool:
    """True for a PS3.5 9.1 UID: dot-separated digit groups, at most 64 characters."""
    return isinstance(uid, str) and 0 < len(uid) <= 64 and bool(_UID.match(uid))


def archive_root() -> Path:
    """``<data>/archive`` of the folders in force now (see :func:`fetalviewer.paths.user_dirs`)."""
    return user_dirs().data_dir / "archive"


def archive_path(root: Path, study_uid: str, series_uid: str, sop_uid: str) -> Path:
    """Where one instance lives in the archive; ``ValueError`` names a UID that is not a UID."""
    for name, uid in (("StudyInstanceUID", study_uid), ("SeriesInstanceUID", series_uid),
                      ("SOPInstanceUID", sop_uid)):  # fmt: skip
        if not is_valid_uid(uid):
            raise ValueError(f"{name} {uid!r} is not a valid DICOM UID")
    return Path(root) / study_uid / series_uid / f"{sop_uid}.dcm"


def write_part10(target: Path, file_meta_bytes: bytes, dataset_bytes: bytes) -> Path:
    """Write a DICOM Part 10 file (PS3.10 7.1: 128-byte preamble, ``DICM``, meta group, data set)
    atomically from already-encoded parts, so the received encoding (and pixel data) is kept byte for byte."""
    with atomic_path(target, suffix=".part") as tmp:
        with open(tmp, "wb") as fh:
            fh.write(b"\x00" * 128 + b"DICM")
            fh.write(file_meta_bytes)
            fh.write(dataset_bytes)
            fh.flush()
            os.fsync(fh.fileno())
    return target
