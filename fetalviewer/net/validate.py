"""Checks on every received or retrieved instance before it is written: the UIDs it will be filed
under, and the integrity of the header against the pixel data (:func:`fetalviewer.dicom.integrity.check_dataset`
where installed)."""

from __future__ import annotations

from fetalviewer.errors import DicomReadError
from fetalviewer.studydb import is_valid_uid


def validate_received(ds, source: str) -> None:
    """Raise :class:`DicomReadError` naming ``source`` and the problem when ``ds`` must not be stored."""
    for keyword in ("SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        if not is_valid_uid(str(ds.get(keyword, "") or "")):
            raise DicomReadError(f"{source}: {keyword} is missing or not a valid UID")
    try:
        from fetalviewer.dicom.integrity import check_dataset
    except ImportError:
        check_dataset = None
    if check_dataset is not None:
        check_dataset(ds, source)
    elif "PixelData" in ds:
        _basic_pixel_check(ds, source)


def _basic_pixel_check(ds, source: str) -> None:
    """Header claims against native pixel data length (PS3.5 8.1.1) when the full check is absent."""
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        bits, samples = int(ds.BitsAllocated), int(ds.get("SamplesPerPixel", 1))
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError) as exc:
        raise DicomReadError(f"{source}: pixel data without a usable image header ({exc})") from exc
    if min(rows, cols, bits, samples, frames) <= 0:
        raise DicomReadError(f"{source}: image header has a zero or negative size")
    if not ds.file_meta.TransferSyntaxUID.is_compressed:
        needed = rows * cols * samples * frames * bits // 8
        if len(ds.PixelData) < needed:
            raise DicomReadError(f"{source}: pixel data holds {len(ds.PixelData)} bytes, header claims {needed}")
