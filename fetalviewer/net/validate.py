"""Checks on every received or retrieved instance before it is written: the UIDs it will be filed
under, and the header's claims against the pixel data really present
(:func:`fetalviewer.dicom.integrity.check_dataset`, nothing decoded)."""

from __future__ import annotations

from fetalviewer.dicom.integrity import check_dataset
from fetalviewer.errors import DicomReadError
from fetalviewer.studydb import is_valid_uid


def validate_received(ds, source: str) -> None:
    """Raise :class:`DicomReadError` naming ``source`` and the problem when ``ds`` must not be stored."""
    for keyword in ("SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        if not is_valid_uid(str(ds.get(keyword, "") or "")):
            raise DicomReadError(f"{source}: {keyword} is missing or not a valid UID")
    check_dataset(ds, source)
