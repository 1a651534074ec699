"""Clean Pixel Data, one frame at a time: bounded memory whatever the number of frames.

Frames come from the app's DICOM engine (:class:`~fetalviewer.dicom.instance.CineLoop`), which only
offers the frames the pixel data really holds (:mod:`fetalviewer.dicom.integrity`); each is blacked out
outside the 2D imaging regions and encoded RLE Lossless (PS3.5 G) on its own. A file is written as the
de-identified header followed by an encapsulated Pixel Data element (PS3.5 A.4: an empty Basic Offset
Table item, one fragment per frame, a sequence delimiter), appended frame by frame, so neither the
decoded cine nor its encoded form is ever held whole. Without an RLE encoder the frames are written
uncompressed (explicit VR little endian, OB of defined length).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from fetalviewer.dicom.deid.pixels import blackout_outside
from fetalviewer.errors import ExportError, FetalViewerError

_PALETTE_KEYWORDS = (
    "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData", "PaletteColorLookupTableUID", "PixelPaddingValue",
    "SmallestImagePixelValue", "LargestImagePixelValue", "PlanarConfiguration",
    "ExtendedOffsetTable", "ExtendedOffsetTableLengths", "PixelData",
)  # fmt: skip
_ITEM = struct.pack("<HH", 0xFFFE, 0xE000)
_SEQUENCE_END = struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)


def rle_available() -> bool:
    from pydicom.pixels.encoders import RLELosslessEncoder

    return "pylibjpeg" in RLELosslessEncoder.available_plugins


def set_pixel_attributes(ds: Dataset, photometric: str, n_frames: int, multi_frame: bool, rle: bool) -> None:
    """Image Pixel attributes of 8-bit gray or RGB frames, as the cleaned copy stores them."""
    for keyword in _PALETTE_KEYWORDS:
        if keyword in ds:
            delattr(ds, keyword)
    ds.PhotometricInterpretation = photometric
    ds.SamplesPerPixel = 3 if photometric == "RGB" else 1
    if photometric == "RGB":
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if multi_frame:
        ds.NumberOfFrames = n_frames
    ds.file_meta.TransferSyntaxUID = RLELossless if rle else ExplicitVRLittleEndian


def clean_frames(loop: Any, boxes, source: Path | str) -> Iterator[np.ndarray]:
    """Each usable frame of ``loop`` as uint8 gray or RGB, black outside ``boxes``."""
    for index in range(loop.n_frames):
        try:
            frame = loop.frame(index)
        except FetalViewerError as exc:
            raise ExportError(
                f"{source}: frame {index + 1} cannot be decoded, so it cannot be cleaned ({exc})"
            ) from None
        yield blackout_outside(frame, boxes, frame.ndim)


def encode_rle(frame: np.ndarray) -> bytes:
    """One uint8 frame (rows, cols) or (rows, cols, 3) as an RLE Lossless fragment."""
    from pydicom.pixels.encoders import RLELosslessEncoder

    rgb = frame.ndim == 3
    return RLELosslessEncoder.encode(
        np.ascontiguousarray(frame), encoding_plugin="pylibjpeg", rows=frame.shape[0], columns=frame.shape[1],
        samples_per_pixel=3 if rgb else 1, bits_allocated=8, bits_stored=8, pixel_representation=0,
        photometric_interpretation="RGB" if rgb else "MONOCHROME2", number_of_frames=1,
        planar_configuration=0,
    )  # fmt: skip


def write_streamed(header: Dataset, loop: Any, boxes, target: Path, source: Path | str) -> int:
    """Write ``header`` (no Pixel Data) then the cleaned frames of ``loop`` into ``target``; returns
    the number of frames written. The caller makes it atomic (``target`` is a temporary path)."""
    rle = rle_available()
    first = loop.frame(0)
    photometric = "RGB" if first.ndim == 3 else "MONOCHROME2"
    multi = loop.n_frames > 1 or "NumberOfFrames" in header
    set_pixel_attributes(header, photometric, loop.n_frames, multi, rle)
    header.save_as(target, enforce_file_format=True)
    written = 0
    with open(target, "ab") as fh:
        if rle:
            fh.write(struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF))
            fh.write(_ITEM + struct.pack("<L", 0))  # empty Basic Offset Table
            for frame in clean_frames(loop, boxes, source):
                data = encode_rle(frame)
                if len(data) % 2:
                    data += b"\x00"
                fh.write(_ITEM + struct.pack("<L", len(data)))
                fh.write(data)
                written += 1
            fh.write(_SEQUENCE_END)
        else:
            length = first.nbytes * loop.n_frames
            fh.write(struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OB", 0, length + length % 2))
            for frame in clean_frames(loop, boxes, source):
                fh.write(np.ascontiguousarray(frame).tobytes())
                written += 1
            if length % 2:
                fh.write(b"\x00")
    return written


def encapsulated_in_memory(loop: Any, boxes, source: Path | str) -> tuple[bytes | None, str, int]:
    """(encapsulated RLE value or None when only uncompressed is possible, photometric, frames) for a
    dataset kept in memory; the encoded frames are held, never the decoded cine."""
    from pydicom.encaps import encapsulate

    first = loop.frame(0)
    photometric = "RGB" if first.ndim == 3 else "MONOCHROME2"
    if rle_available():
        return (
            encapsulate([encode_rle(f) for f in clean_frames(loop, boxes, source)]),
            photometric,
            loop.n_frames,
        )
    return None, photometric, loop.n_frames
