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


def decode_staged(path, caller: str):
    """The data set of a received instance staged as a Part 10 file; ``DicomReadError`` naming ``caller``
    when its bytes cannot be decoded.

    Decoding hostile bytes fails in many ways besides ``ValueError``: a sequence item without a tag
    (``OSError``), nesting deeper than the interpreter's stack (``RecursionError``), a cut value
    (``struct.error``), an unknown VR (``NotImplementedError``). None of them is an internal error of
    the receiver, and an ``OSError`` here must not be answered as a disk problem (0xA700)."""
    import pydicom

    try:
        return pydicom.dcmread(path)
    except Exception as exc:  # noqa: BLE001 - see above: every kind means "cannot understand"
        raise DicomReadError(
            f"data set from {caller} cannot be decoded ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None


def describe_instance(ds) -> str:
    """The SOP Instance UID of ``ds`` for messages, '?' when it is missing or unreadable."""
    try:
        return str(ds.get("SOPInstanceUID", "?"))
    except Exception:  # a damaged value must not stop the refusal that names it
        return "?"
