"""Checks on every received or retrieved instance before it is written: the UIDs it will be filed
under, and the header's claims against the pixel data really present
(:func:`fetalviewer.dicom.integrity.check_dataset`, nothing decoded)."""

from __future__ import annotations

from fetalviewer.dicom.integrity import check_dataset
from fetalviewer.errors import DicomReadError
from fetalviewer.studydb import is_valid_uid


def validate_received(ds, source: str) -> None:
    """Raise :class:`DicomReadError` naming ``source`` and the problem when ``ds`` must not be stored
    (also when a value cannot even be read: an unknown VR, a damaged length, ...)."""
    try:
        for keyword in ("SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            if not is_valid_uid(str(ds.get(keyword, "") or "")):
                raise DicomReadError(f"{source}: {keyword} is missing or not a valid UID")
        check_dataset(ds, source)
    except DicomReadError:
        raise
    except Exception as exc:  # pydicom raises many kinds on damaged values
        raise DicomReadError(f"{source}: damaged dataset ({type(exc).__name__}: {str(exc)[:200]})") from None


def describe_instance(ds) -> str:
    """The SOP Instance UID of ``ds`` for messages, '?' when it is missing or unreadable."""
    try:
        return str(ds.get("SOPInstanceUID", "?"))
    except Exception:  # a damaged value must not stop the refusal that names it
        return "?"
