"""The archive folder: received and retrieved instances, one file per SOP instance.

Layout ``<data>/archive/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``. UIDs are checked
against the PS3.5 section 9 syntax (digits and dots, at most 64 characters) before they become path parts,
so a hostile UID cannot escape the folder. Files are staged as hidden ``.part`` files, then renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

from fetalviewer.atomic import _current_umask
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


def stage_part10(root: Path, file_meta_bytes: bytes, dataset_bytes: bytes | memoryview) -> Path:
    """Write a Part 10 file as a hidden ``.incoming-*.part`` file in the archive folder (the same file
    system as its final place, so filing it is one rename). The caller renames it into place or removes
    it; one left by a crash is removed by the next archive rescan, like every ``.*.part`` file."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".incoming-", suffix=".part", dir=root)
    staged = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"\x00" * 128 + b"DICM")
            fh.write(file_meta_bytes)
            fh.write(dataset_bytes)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(staged, 0o666 & ~_current_umask())  # mkstemp makes 0600 files
    except BaseException:
        with contextlib.suppress(OSError):
            staged.unlink()
        raise
    return staged
