"""Header claims checked against the pixel data present, before anything is allocated.

A DICOM header states how many frames an instance has (NumberOfFrames), their size (Rows, Columns,
SamplesPerPixel, BitsAllocated) and how they are stored. A damaged or hostile file can claim a million
frames while its Pixel Data holds 120, or 65535 x 65535 pixels per frame; a reader that allocates from
the claim runs out of memory. Here every claim is compared with the bytes present:

* native (uncompressed) Pixel Data: the value length must hold whole frames of the declared size
  (PS3.5 8.1.1; YBR_FULL_422 stores two samples per pixel, PS3.3 C.7.6.3.1.2);
* encapsulated Pixel Data (PS3.5 A.4): frames are counted from the Basic Offset Table when it is
  usable, else from the fragments (one per frame, or by the codestream start markers of JPEG
  ITU-T T.81 B.1.1.3 / JPEG-LS / JPEG 2000 ITU-T T.800 A.4.1 when a frame spans several fragments);
  RLE Lossless keeps one frame per fragment (PS3.5 G.2).

The result (:class:`PixelLayout`) says how many frames are really usable and lists the problems in
words ("header says 1,000,000 frames, the pixel data holds 120: using 120"); when nothing usable is
present :class:`~fetalviewer.errors.DicomReadError` is raised naming the source. The decode layer
checks each compressed frame again before decoding it (:func:`check_frame_codestream`): a frame whose
codestream declares another size than the header, or whose declared size cannot come from its bytes,
is refused before any buffer is allocated. No decoded frame may exceed :data:`MAX_FRAME_BYTES`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fetalviewer.errors import DicomReadError, FrameDecodeError

#: Memory ceiling for one decoded frame (bytes): 8192 x 8192 RGB at 8 bits fits, a 65535 x 65535
#: claim does not. Ultrasound frames are a few MB.
MAX_FRAME_BYTES = 256 * 1024 * 1024
#: RLE Lossless (PS3.5 G.3.1): a replicate run turns 2 bytes into at most 128, so a segment decodes
#: to at most 64 times its length; the 64-byte RLE header holds no pixels.
RLE_MAX_EXPANSION = 64
_RLE_HEADER_BYTES = 64
#: Bytes read from the start of a fragment to recognise a codestream start.
HEAD_BYTES = 8

_RLE = "1.2.840.10008.1.2.5"
_JPEG_PREFIX = "1.2.840.10008.1.2.4."
_J2K_UIDS = {
    "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.92",
    "1.2.840.10008.1.2.4.93", "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
}  # fmt: skip
_JPEG_UIDS = {
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
}  # fmt: skip
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  "
_J2K_SOC_SIZ = b"\xff\x4f\xff\x51"
_VALID_BITS = (1, 8, 16, 32, 64)
_UNDEFINED_LENGTH = 0xFFFFFFFF


@dataclass(frozen=True)
class Fragment:
    """One encapsulated fragment: offset of its item tag relative to the first fragment's item tag
    (as in the Basic Offset Table, PS3.5 A.4), its value length and its first bytes."""

    offset: int
    length: int
    head: bytes = b""


@dataclass(frozen=True)
class PixelLayout:
    """What the pixel data really holds; ``frames`` is the number of frames safe to decode.

    ``frame_fragments[i]`` lists the fragment indices of frame ``i`` (encapsulated data only).
    """

    frames: int
    declared_frames: int | None
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    frame_bytes: int
    encapsulated: bool
    frame_fragments: tuple[tuple[int, ...], ...] = ()
    problems: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ValueError(f"PixelLayout.frames must be >= 1, got {self.frames}")
        if self.encapsulated and len(self.frame_fragments) != self.frames:
            raise ValueError("PixelLayout.frame_fragments must list the fragments of every frame")


def _count(n: int) -> str:
    return f"{n:,}"


def _int_attr(ds: Any, keyword: str, default: int | None, source: str) -> int | None:
    """An integer attribute, ``default`` when absent; DicomReadError when unreadable."""
    try:
        if keyword not in ds:
            return default
        value = ds[keyword].value
        if value is None or value == "":
            return default
        if isinstance(value, (bytes, bytearray)):
            raise ValueError(f"undecodable value {bytes(value[:16])!r}")
        if not isinstance(value, (int, float, str)) and hasattr(value, "__len__"):
            value = value[0]
        number = float(value)
        if number != int(number):
            raise ValueError(f"{value!r} is not a whole number")
        return int(number)
    except DicomReadError:
        raise
    except Exception as exc:  # pydicom raises many kinds on damaged values
        raise DicomReadError(f"{source}: {keyword} cannot be read ({type(exc).__name__}: {exc})") from None


def _image_attributes(ds: Any, source: str) -> tuple[int, int, int, int, str]:
    """(rows, columns, samples per pixel, bits allocated, photometric) with their ranges checked."""
    rows = _int_attr(ds, "Rows", None, source)
    columns = _int_attr(ds, "Columns", None, source)
    if rows is None or columns is None:
        raise DicomReadError(f"{source}: the image pixel description is incomplete (Rows or Columns missing)")
    if not (1 <= rows <= 0xFFFF and 1 <= columns <= 0xFFFF):
        raise DicomReadError(f"{source}: invalid image size {rows} x {columns} (rows x columns)")
    samples = _int_attr(ds, "SamplesPerPixel", 1, source)
    if samples not in (1, 3, 4):
        raise DicomReadError(
            f"{source}: SamplesPerPixel is {samples}; only 1 or 3 samples per pixel are images"
        )
    bits = _int_attr(ds, "BitsAllocated", 8, source)
    if bits not in _VALID_BITS:
        raise DicomReadError(
            f"{source}: BitsAllocated is {bits}; it must be 1, 8, 16, 32 or 64 (PS3.5 8.1.1)"
        )
    stored = _int_attr(ds, "BitsStored", bits, source)
    if stored is None or not 1 <= stored <= bits:
        raise DicomReadError(f"{source}: BitsStored {stored} does not fit in BitsAllocated {bits}")
    try:
        photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    except Exception as exc:
        raise DicomReadError(f"{source}: PhotometricInterpretation cannot be read ({exc})") from None
    return rows, columns, samples, bits, photometric


def _declared_frames(ds: Any, source: str, problems: list[str]) -> int | None:
    """NumberOfFrames as declared (1 when absent), or None with a problem when it is not a count."""
    try:
        declared = _int_attr(ds, "NumberOfFrames", 1, source)
    except DicomReadError as exc:
        problems.append(f"NumberOfFrames is unreadable ({str(exc).split(': ', 1)[-1]})")
        return None
    if declared is None or declared < 1:
        problems.append(f"NumberOfFrames is {declared}, not a frame count")
        return None
    return declared


def decoded_frame_bytes(rows: int, columns: int, samples: int, bits: int, photometric: str = "") -> int:
    """Bytes one frame occupies as stored natively (PS3.5 8.1.1; YBR_FULL_422 subsampled)."""
    if bits == 1:
        return (rows * columns * samples + 7) // 8
    size = rows * columns * samples * (bits // 8)
    if photometric == "YBR_FULL_422" and samples == 3:
        size = size * 2 // 3
    return size


def _frames_note(declared: int | None, present: int, used: int) -> str | None:
    if declared is None:
        return f"the pixel data holds {_count(present)} frame(s): using {_count(used)}"
    if declared == present:
        return None
    if declared > present:
        return f"header says {_count(declared)} frames, the pixel data holds {_count(present)}: using {_count(used)}"
    return (
        f"header says {_count(declared)} frame(s), the pixel data holds {_count(present)}: "
        f"using the {_count(used)} declared"
    )


def check_layout(
    ds: Any,
    source: str,
    *,
    transfer_syntax_uid: str,
    native_length: int | None = None,
    fragments: Sequence[Fragment] | None = None,
    basic_offsets: Sequence[int] = (),
    problems: Sequence[str] = (),
) -> PixelLayout:
    """Compare the image attributes of header ``ds`` with the pixel data described by the caller.

    Give ``native_length`` (bytes of an uncompressed Pixel Data value present) or ``fragments`` (and
    the Basic Offset Table's ``basic_offsets``) of encapsulated data. Returns the usable layout with
    its problems, or raises DicomReadError naming ``source`` when no frame is usable. ``problems``
    already found by the caller (e.g. a truncated file) come first in the result and in the error.
    """
    known = list(problems)
    try:
        return _check_layout(
            ds, source, str(transfer_syntax_uid), native_length, fragments, basic_offsets, known
        )
    except DicomReadError as exc:
        if not known:
            raise
        reason = str(exc).removeprefix(f"{source}: ")
        raise DicomReadError(f"{source}: {'; '.join(known)}; {reason}") from None


def _check_layout(
    ds: Any,
    source: str,
    transfer_syntax_uid: str,
    native_length: int | None,
    fragments: Sequence[Fragment] | None,
    basic_offsets: Sequence[int],
    problems: list[str],
) -> PixelLayout:
    rows, columns, samples, bits, photometric = _image_attributes(ds, source)
    frame_bytes = decoded_frame_bytes(rows, columns, samples, bits, photometric)
    unpacked = rows * columns * samples * max(bits // 8, 1)
    if unpacked > MAX_FRAME_BYTES:
        raise DicomReadError(
            f"{source}: one frame of {rows} x {columns} x {samples} samples at {bits} bits would need "
            f"{unpacked / 2**20:,.0f} MiB, over the {MAX_FRAME_BYTES // 2**20} MiB per-frame ceiling"
        )
    declared = _declared_frames(ds, source, problems)
    if fragments is None:
        if native_length is None:
            raise DicomReadError(f"{source}: no pixel data")
        present = native_length * 8 // (frame_bytes * 8 if bits != 1 else rows * columns * samples)
        if present < 1:
            raise DicomReadError(
                f"{source}: Pixel Data holds {_count(native_length)} bytes; one frame of {rows} x {columns} "
                f"x {samples} samples at {bits} bits needs {_count(frame_bytes)}"
            )
        used = present if declared is None else min(declared, present)
        note = _frames_note(declared, present, used)
        if note:
            problems.append(note)
        return PixelLayout(
            used, declared, rows, columns, samples, bits, frame_bytes, False, (), tuple(problems)
        )
    starts = _frame_starts(fragments, basic_offsets, str(transfer_syntax_uid), declared, problems, source)
    present = len(starts)
    used = present if declared is None else min(declared, present)
    note = _frames_note(declared, present, used)
    if note:
        problems.append(note)
    bounds = list(starts[:used]) + [starts[used] if used < present else len(fragments)]
    frame_fragments = tuple(tuple(range(bounds[i], bounds[i + 1])) for i in range(used))
    return PixelLayout(
        used, declared, rows, columns, samples, bits, frame_bytes, True, frame_fragments, tuple(problems)
    )


def _is_frame_start(head: bytes, uid: str) -> bool | None:
    """Whether a fragment starts a codestream of this transfer syntax; None when unknowable."""
    if uid in _JPEG_UIDS:
        return head[:2] == b"\xff\xd8"
    if uid in _J2K_UIDS:
        return head[:4] == _J2K_SOC_SIZ or head[:8] == _JP2_SIGNATURE
    if uid == _RLE:
        return True  # PS3.5 G.2: each frame is one fragment
    return None


def _frame_starts(
    fragments: Sequence[Fragment],
    basic_offsets: Sequence[int],
    uid: str,
    declared: int | None,
    problems: list[str],
    source: str,
) -> list[int]:
    """Index of the first fragment of each frame present."""
    if not fragments:
        raise DicomReadError(f"{source}: the compressed pixel data holds no fragment (no frame)")
    if basic_offsets:
        by_offset = {f.offset: i for i, f in enumerate(fragments)}
        starts = []
        for offset in basic_offsets:
            index = by_offset.get(int(offset))
            if index is None or (starts and index <= starts[-1]):
                break
            starts.append(index)
        if starts and starts[0] == 0 and len(starts) == len(basic_offsets):
            return starts
        problems.append(
            f"the basic offset table lists {_count(len(basic_offsets))} frame(s) but does not match the "
            f"{_count(len(fragments))} fragment(s): ignored"
        )
    if declared is not None and len(fragments) == declared:
        return list(range(len(fragments)))
    marks = [_is_frame_start(f.head, uid) for f in fragments]
    if marks[0] is None:
        # Unknown codestream: one frame per fragment, or all fragments make the single frame.
        return [0] if declared == 1 else list(range(len(fragments)))
    starts = [i for i, mark in enumerate(marks) if mark]
    if not starts or starts[0] != 0:
        problems.append("the first fragment does not start a compressed frame")
        starts = [0, *starts]
    return starts


def frame_compressed_bytes(layout: PixelLayout, fragments: Sequence[Fragment], index: int) -> int:
    return sum(fragments[i].length for i in layout.frame_fragments[index])


def check_frame_codestream(
    layout: PixelLayout, uid: str, data: bytes, source: str, index: int, partial: bool = False
) -> None:
    """Refuse compressed frame ``index`` (its concatenated fragments ``data``) before decoding when its
    declared size cannot come from these bytes: a JPEG / JPEG 2000 codestream whose own frame header
    (SOF, SIZ) gives another size than Rows x Columns, or RLE data too short for the frame.

    ``partial``: ``data`` is only the start of the frame; only a frame header found there is judged."""
    uid = str(uid)
    where = f"{source}: frame {index + 1}"
    if partial and uid == _RLE:
        return
    if uid == _RLE:
        needed = layout.rows * layout.columns * layout.samples_per_pixel * max(layout.bits_allocated // 8, 1)
        if (len(data) - _RLE_HEADER_BYTES) * RLE_MAX_EXPANSION < needed:
            raise FrameDecodeError(
                f"{where}: {len(data):,} bytes of RLE data cannot hold a {layout.rows} x {layout.columns} frame; refused"
            )
        return
    size = None
    if uid in _JPEG_UIDS:
        size = jpeg_frame_size(data)
        kind = "JPEG"
    elif uid in _J2K_UIDS:
        size = j2k_frame_size(data)
        kind = "JPEG 2000"
    else:
        return
    if size is None:
        if partial:
            return
        raise FrameDecodeError(f"{where}: no {kind} frame header found in its compressed data; refused")
    rows, columns = size
    if (rows, columns) != (layout.rows, layout.columns) and not (rows == 0 and uid in _JPEG_UIDS):
        raise FrameDecodeError(
            f"{where}: the {kind} data is {columns} x {rows} pixels but the header says "
            f"{layout.columns} x {layout.rows} (columns x rows); refused"
        )


_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}


def jpeg_frame_size(data: bytes) -> tuple[int, int] | None:
    """(rows, columns) from the first SOF segment of a JPEG / JPEG-LS codestream (ITU-T T.81 B.2.2)."""
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    end = len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF_MARKERS:
            if pos + 9 > end or length < 8:
                return None
            rows, columns = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return rows, columns
        if marker in (0xDA, 0xD9) or length < 2:
            return None  # scan data or end before any frame header
        pos += 2 + length
    return None


def j2k_frame_size(data: bytes) -> tuple[int, int] | None:
    """(rows, columns) from the SIZ segment of a JPEG 2000 codestream (ITU-T T.800 A.5.1)."""
    at = data.find(_J2K_SOC_SIZ, 0, 1 << 16)
    if at < 0 or at + 24 > len(data):
        return None
    xsiz, ysiz, xosiz, yosiz = struct.unpack(">IIII", data[at + 8 : at + 24])
    if xsiz <= xosiz or ysiz <= yosiz:
        return (0, 0)
    return ysiz - yosiz, xsiz - xosiz


def scan_encapsulated(
    fh: Any, start: int, end: int, source: str
) -> tuple[list[int], list[Fragment], list[str], int]:
    """Walk the items of encapsulated Pixel Data (PS3.5 A.4) in file-like ``fh`` from byte ``start``
    (the Basic Offset Table item) up to ``end`` at most: (Basic Offset Table, complete fragments,
    problems, file position of the first fragment item; fragment offsets are relative to it). Only item headers and the first :data:`HEAD_BYTES` of each fragment are read. A file
    that ends early or an item that is not a fragment ends the walk with a problem; DicomReadError
    when not even the Basic Offset Table item is there."""
    problems: list[str] = []
    fh.seek(start)
    item = fh.read(8)
    if len(item) < 8:
        raise DicomReadError(f"{source}: file is truncated inside the compressed pixel data")
    group, element, bot_length = struct.unpack("<HHL", item)
    if (group, element) != (0xFFFE, 0xE000) or bot_length == _UNDEFINED_LENGTH:
        raise DicomReadError(
            f"{source}: damaged compressed pixel data (item ({group:04X},{element:04X}) where the "
            "basic offset table was expected)"
        )
    offsets: list[int] = []
    if bot_length % 4 or start + 8 + bot_length > end:
        problems.append(
            f"the basic offset table item has an impossible length ({bot_length:,} bytes): ignored"
        )
        bot_length = 0 if start + 8 + bot_length > end else bot_length
    elif bot_length:
        table = fh.read(bot_length)
        offsets = list(struct.unpack(f"<{bot_length // 4}L", table))
    first = pos = start + 8 + bot_length
    fragments: list[Fragment] = []
    while True:
        if pos + 8 > end:
            if pos < end or not fragments:
                problems.append("the compressed pixel data ends early (no sequence delimiter)")
            break
        fh.seek(pos)
        item = fh.read(8)
        if len(item) < 8:
            problems.append("the file ends inside the compressed pixel data")
            break
        group, element, length = struct.unpack("<HHL", item)
        if (group, element) == (0xFFFE, 0xE0DD):
            break
        if (group, element) != (0xFFFE, 0xE000) or length == _UNDEFINED_LENGTH:
            problems.append(
                f"damaged compressed pixel data after fragment {len(fragments):,}: "
                f"item ({group:04X},{element:04X}); the rest is ignored"
            )
            break
        if pos + 8 + length > end:
            problems.append(
                f"the file ends inside fragment {len(fragments) + 1:,} of the compressed pixel data "
                f"({length:,} bytes declared, {end - pos - 8:,} present): it is ignored"
            )
            break
        fragments.append(Fragment(pos - first, length, fh.read(min(HEAD_BYTES, length))))
        pos += 8 + length
    return offsets, fragments, problems, first


#: Sequences nested deeper than this are not read (ultrasound headers and SR trees stay far below).
MAX_SEQUENCE_DEPTH = 32


def drop_damaged_elements(ds: Any, depth: int = 0) -> list[str]:
    """Convert every element of ``ds`` (and of its sequence items) now; an element whose value cannot
    be read (unknown VR, bad length, nested too deep) is removed. Returns one note per removal, so a
    damaged attribute that nothing needs does not make the whole file unreadable later."""
    notes: list[str] = []
    for tag in list(ds.keys()):
        name = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
        try:
            elem = ds[tag]
            if elem.VR == "SQ":
                if depth >= MAX_SEQUENCE_DEPTH:
                    raise ValueError(f"sequences nested deeper than {MAX_SEQUENCE_DEPTH} levels")
                for item in elem.value:
                    notes += drop_damaged_elements(item, depth + 1)
        except RecursionError:
            ds._dict.pop(tag, None)
            notes.append(f"element {name} is nested too deeply: ignored")
        except Exception as exc:  # pydicom raises many kinds on damaged values
            ds._dict.pop(tag, None)
            notes.append(f"element {name} is damaged ({type(exc).__name__}: {str(exc)[:120]}): ignored")
    return notes


def check_dataset(ds: Any, source: str) -> PixelLayout | None:
    """Check a dataset held in memory (e.g. one received by a Storage SCP) before using its pixels.

    Returns None when ``ds`` has no Pixel Data (a report, a PDF: nothing to check), else the usable
    :class:`PixelLayout` with its problems; raises DicomReadError naming ``source`` when the pixel
    data holds no usable frame or the image attributes are invalid. Nothing is decoded.
    """
    import io

    from pydicom.uid import UID

    if "PixelData" not in ds:
        for keyword in ("FloatPixelData", "DoubleFloatPixelData"):
            if keyword in ds:
                raise DicomReadError(f"{source}: {keyword} is not an ultrasound image")
        return None
    try:
        meta = getattr(ds, "file_meta", None)
        uid = str(meta.get("TransferSyntaxUID", "") or "") if meta is not None else ""
        elem = ds["PixelData"]
        value = elem.value
        undefined = bool(getattr(elem, "is_undefined_length", False))
    except Exception as exc:
        raise DicomReadError(f"{source}: Pixel Data cannot be read ({type(exc).__name__}: {exc})") from None
    if value is None or len(value) == 0:
        raise DicomReadError(f"{source}: Pixel Data is empty")
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise DicomReadError(f"{source}: Pixel Data is not a byte value ({type(value).__name__})")
    try:
        compressed = bool(uid) and UID(uid).is_compressed
    except Exception:
        compressed = False
    if not (compressed or undefined):
        return check_layout(ds, source, transfer_syntax_uid=uid, native_length=len(value))
    offsets, fragments, problems, first_item = scan_encapsulated(io.BytesIO(value), 0, len(value), source)
    problems = [p for p in problems if "no sequence delimiter" not in p]  # pydicom drops the delimiter
    layout = check_layout(
        ds, source, transfer_syntax_uid=uid, fragments=fragments, basic_offsets=offsets, problems=problems
    )
    # the first frame's own codestream header against Rows x Columns, as when a file is opened
    first = fragments[layout.frame_fragments[0][0]]
    start = first_item + first.offset + 8
    head = bytes(value[start : start + min(first.length, 1 << 16)])
    try:
        check_frame_codestream(layout, uid, head, source, 0, partial=first.length > len(head))
    except FrameDecodeError as exc:
        raise DicomReadError(str(exc).replace("; refused", "; no frame can be shown")) from None
    return layout


__all__ = [
    "HEAD_BYTES",
    "MAX_FRAME_BYTES",
    "Fragment",
    "PixelLayout",
    "check_dataset",
    "check_frame_codestream",
    "check_layout",
    "decoded_frame_bytes",
    "drop_damaged_elements",
    "j2k_frame_size",
    "jpeg_frame_size",
    "scan_encapsulated",
]
