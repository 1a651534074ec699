"""Structure-aware mutations of real ultrasound DICOM files, reproducible from one integer seed.

``mutant(seed)`` picks a seed file (pydicom's test data) and one to three mutations with
``random.Random(seed)``: bit flips, truncation, zeroed blocks, corrupted length fields, dimension,
frame-count and pixel-description lies, duplicated data, fragment damage, nested-sequence bombs and
huge private elements. The bytes are made again from the seed whenever needed, so a failure is kept
as its seed number (no mutated file is stored).

Length fields are found from pydicom's raw elements (value position and VR, PS3.5 7.1): the length is
the 4 bytes before the value for implicit VR and the long explicit VRs, else the 2 bytes before it.
"""

from __future__ import annotations

import io
import random
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

#: Seed files (pydicom test data): native palette, RLE, JPEG baseline cine, JPEG 2000, implicit VR.
SEEDS: tuple[str, ...] = (
    "OBXXXX1A_rle_2frame.dcm",
    "examples_ybr_color.dcm",
    "US1_J2KI.dcm",
    "OBXXXX1A.dcm",
    "gdcm-US-ALOKA-16.dcm",
)
#: Seeds small enough for the quick run in the test suite.
QUICK_SEEDS: tuple[str, ...] = ("OBXXXX1A_rle_2frame.dcm", "examples_ybr_color.dcm", "US1_J2KI.dcm")

#: A generated seed: the project's own OB-GYN SR (TID 5000) of OBXXXX1A.dcm, for the SR reader.
SR_SEED = "generated:ob_sr.dcm"
SR_SEEDS: tuple[str, ...] = (SR_SEED,)

_LONG_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "SQ", "UT", "UN", "UC", "UR", "SV", "UV"}
_PIXEL = 0x7FE00010


@dataclass(frozen=True)
class Element:
    tag: int
    vr: str
    length: int
    value_pos: int
    length_pos: int
    length_size: int
    implicit: bool
    little: bool


@dataclass(frozen=True)
class Mutant:
    seed: int
    source: str
    data: bytes
    steps: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"mutant_{self.seed:06d}.dcm"

    def describe(self) -> str:
        return f"seed {self.seed}: {self.source}: {'; '.join(self.steps)}"


@cache
def seed_bytes(name: str) -> bytes:
    if name == SR_SEED:
        return _generated_sr()
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    if path is None:
        raise FileNotFoundError(f"pydicom test file {name} is not available")
    with open(path, "rb") as fh:
        return fh.read()


def _generated_sr() -> bytes:
    import tempfile
    from pathlib import Path

    import pydicom

    from fetalviewer.report.build import build_report_content
    from fetalviewer.report.sr import ObGynSR
    from tests.test_report_content import sample_exam

    loop, record, predictions, info = sample_exam()
    content = build_report_content([loop], record, predictions, model_info=info)
    sr = ObGynSR.build(content, record.measurements, [loop], [loop.dataset()])
    with tempfile.TemporaryDirectory() as folder:
        ds = pydicom.dcmread(ObGynSR.write(sr, Path(folder) / "sr.dcm"))
    # Same bytes in every run: generated UIDs and the creation date/time replaced by fixed values.
    from pydicom.uid import generate_uid

    counter = iter(range(1 << 20))

    def fix(dataset) -> None:
        for elem in dataset:
            if elem.VR == "SQ":
                for item in elem.value:
                    fix(item)
            elif elem.VR == "UI" and elem.keyword not in ("SOPClassUID", "ReferencedSOPClassUID"):
                if not str(elem.value).startswith("1.2.840.10008."):
                    elem.value = generate_uid(entropy_srcs=[f"fuzz-sr-{next(counter)}"])
            elif elem.VR in ("DA", "TM", "DT"):
                elem.value = {"DA": "20240102", "TM": "101112", "DT": "20240102101112"}[elem.VR]

    fix(ds)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def elements(data: bytes) -> list[Element]:
    """Top-level elements of ``data`` with the byte positions of their length fields ([] if unparsable)."""
    import pydicom

    try:
        ds = pydicom.dcmread(io.BytesIO(data), defer_size=64, force=True)
        found = []
        for tag, raw in list(ds.file_meta._dict.items()) + list(ds._dict.items()):
            if not hasattr(raw, "value_tell") or raw.value_tell is None:
                continue
            implicit = bool(raw.is_implicit_VR)
            vr = str(raw.VR or "UN")
            if implicit or vr in _LONG_VRS:
                size = 4
            else:
                size = 2
            length = raw.length if raw.length is not None else 0
            found.append(
                Element(int(tag), vr, length, raw.value_tell, raw.value_tell - size, size, implicit,
                        bool(raw.is_little_endian))
            )  # fmt: skip
        return found
    except Exception:
        return []


def _tag_pos(element: Element) -> int:
    """Where the element's tag starts: implicit tag+length; explicit tag+VR+length(2) or
    tag+VR+reserved+length(4) (PS3.5 7.1.1-7.1.3)."""
    if element.implicit:
        return element.length_pos - 4
    return element.length_pos - (8 if element.length_size == 4 else 6)


def _dataset(data: bytes):
    import pydicom

    return pydicom.dcmread(io.BytesIO(data), force=True)


def _save(ds) -> bytes:
    from pydicom import config

    out = io.BytesIO()
    old = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    try:
        ds.save_as(out, enforce_file_format=False)
    finally:
        config.settings.writing_validation_mode = old
    return out.getvalue()


def _pixel_pos(data: bytes) -> int:
    for element in elements(data):
        if element.tag == _PIXEL:
            return element.value_pos
    return len(data)


# --------------------------------------------------------------------------- byte-level mutations
def bit_flips(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out = bytearray(data)
    n = rng.choice((1, 1, 2, 4, 8, 32))
    header = _pixel_pos(data)
    if not out:
        return data, "nothing left to flip"
    for _ in range(n):
        limit = header if rng.random() < 0.7 and header > 132 else len(out)
        low = 128 if len(out) > 129 else 0  # past the preamble when there is more than it
        pos = rng.randrange(low, max(min(limit, len(out)), low + 1))
        out[pos] ^= 1 << rng.randrange(8)
    return bytes(out), f"{n} bit flip(s)"


def truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    header = _pixel_pos(data)
    where = rng.choice(("header", "pixels", "anywhere"))
    if where == "header":
        cut = rng.randrange(0, max(header, 1))
    elif where == "pixels":
        cut = rng.randrange(min(header, len(data) - 1), len(data))
    else:
        cut = rng.randrange(0, len(data))
    return data[:cut], f"truncated to {cut} of {len(data)} bytes ({where})"


def zero_block(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    size = rng.choice((4, 16, 256, 4096, 65536))
    pos = rng.randrange(0, len(data))
    out = bytearray(data)
    out[pos : pos + size] = bytes(len(out[pos : pos + size]))
    return bytes(out), f"zeroed {size} bytes at {pos}"


def length_lie(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    found = elements(data)
    if not found:
        return bit_flips(data, rng)
    element = rng.choice(found)
    if element.length_size == 4:
        choices = (0, 1, 2, element.length + 1, max(element.length - 1, 0), element.length * 2,
                   0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF, len(data), rng.randrange(1 << 32))  # fmt: skip
        fmt = "<L" if element.little else ">L"
    else:
        choices = (0, 1, element.length + 1, max(element.length - 1, 0), 0xFFFF, rng.randrange(1 << 16))
        fmt = "<H" if element.little else ">H"
    value = rng.choice(choices)
    out = bytearray(data)
    out[element.length_pos : element.length_pos + element.length_size] = struct.pack(fmt, value)
    return bytes(
        out
    ), f"length of ({element.tag >> 16:04X},{element.tag & 0xFFFF:04X}) {element.length} -> {value}"


def duplicate_chunk(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    size = rng.choice((8, 64, 1024, 16384))
    start = rng.randrange(0, max(len(data) - size, 1))
    at = rng.randrange(0, len(data))
    return data[:at] + data[start : start + size] + data[at:], f"{size} bytes from {start} copied to {at}"


def duplicate_element(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    found = [e for e in elements(data) if e.tag != _PIXEL and e.tag >> 16 != 0x0002 and e.length < 1 << 16]
    if not found:
        return duplicate_chunk(data, rng)
    element = rng.choice(found)
    start = _tag_pos(element)
    end = element.value_pos + element.length
    chunk = data[start:end]
    return data[:end] + chunk + data[
        end:
    ], f"element ({element.tag >> 16:04X},{element.tag & 0xFFFF:04X}) duplicated"


# ------------------------------------------------------------------------ dataset-level mutations
def _set(ds, keyword: str, value) -> None:
    from pydicom.datadict import dictionary_VR, tag_for_keyword
    from pydicom.dataelem import DataElement

    tag = tag_for_keyword(keyword)
    ds[tag] = DataElement(tag, dictionary_VR(tag), value)


def frames_lie(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    ds = _dataset(data)
    n = int(ds.get("NumberOfFrames", 1) or 1)
    value = rng.choice((0, -1, 1, n - 1, n + 1, 2 * n, 1_000_000, 2**31 - 1, "abc", "1.5", "", "1e9"))
    _set(ds, "NumberOfFrames", str(value))
    return _save(ds), f"NumberOfFrames {n} -> {value!r}"


def dims_lie(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    ds = _dataset(data)
    keyword = rng.choice(("Rows", "Columns", "Both"))
    rows, cols = int(ds.Rows), int(ds.Columns)
    pick = lambda v: rng.choice((0, 1, 2, v // 2, v - 1, v + 1, v * 2, v * 16, 65535))  # noqa: E731
    if keyword in ("Rows", "Both"):
        ds.Rows = pick(rows)
    if keyword in ("Columns", "Both"):
        ds.Columns = pick(cols)
    return _save(ds), f"Rows x Columns {rows} x {cols} -> {ds.Rows} x {ds.Columns}"


def pixel_description_lie(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    ds = _dataset(data)
    keyword, values = rng.choice((
        ("SamplesPerPixel", (0, 1, 2, 3, 4, 255)),
        ("BitsAllocated", (0, 1, 7, 8, 12, 16, 32, 64, 255)),
        ("BitsStored", (0, 1, 8, 12, 16, 17, 64)),
        ("HighBit", (0, 7, 15, 31, 200)),
        ("PixelRepresentation", (0, 1, 2)),
        ("PlanarConfiguration", (0, 1, 2)),
        ("PhotometricInterpretation", ("MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR", "YBR_FULL",
                                       "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "", "XYZ")),
    ))  # fmt: skip
    value = rng.choice(values)
    _set(ds, keyword, value)
    return _save(ds), f"{keyword} -> {value!r}"


def transfer_syntax_lie(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    ds = _dataset(data)
    uid = rng.choice((
        "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
        "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80",
        "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.100", "1.2.3", "",
    ))  # fmt: skip
    out = bytearray(data)
    old = str(ds.file_meta.get("TransferSyntaxUID", ""))
    at = data.find(old.encode()) if old else -1
    if at < 0:
        return bit_flips(data, rng)
    new = uid.encode().ljust(len(old.encode()), b"\0")[: max(len(old.encode()), len(uid))]
    if len(new) != len(old.encode()):  # keep the element length: only same-size or shorter UIDs fit
        new = uid.encode()[: len(old)].ljust(len(old), b"\0")
    out[at : at + len(old)] = new
    return bytes(out), f"TransferSyntaxUID {old} -> {new.rstrip(bytes(1)).decode(errors='replace')}"


def fragment_damage(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    from pydicom.encaps import generate_fragments

    ds = _dataset(data)
    if not ds.file_meta.TransferSyntaxUID.is_compressed:
        return frames_lie(data, rng)
    fragments = list(generate_fragments(ds.PixelData))
    op = rng.choice(("drop", "drop_last", "duplicate", "swap", "bot_lie", "no_delimiter", "empty"))
    if op == "drop" and len(fragments) > 1:
        del fragments[rng.randrange(len(fragments))]
    elif op == "drop_last" and len(fragments) > 1:
        fragments = fragments[: rng.randrange(1, len(fragments))]
    elif op == "duplicate":
        i = rng.randrange(len(fragments))
        fragments.insert(i, fragments[i])
    elif op == "swap" and len(fragments) > 1:
        i, j = rng.randrange(len(fragments)), rng.randrange(len(fragments))
        fragments[i], fragments[j] = fragments[j], fragments[i]
    elif op == "empty":
        fragments[rng.randrange(len(fragments))] = b""
    bot = b""
    if op == "bot_lie":
        offsets = [rng.randrange(1 << 20) for _ in range(rng.choice((1, len(fragments), 3 * len(fragments))))]
        bot = struct.pack(f"<{len(offsets)}L", *offsets)
    value = struct.pack("<HHL", 0xFFFE, 0xE000, len(bot)) + bot
    for fragment in fragments:
        fragment = fragment + (b"\0" if len(fragment) % 2 else b"")
        value += struct.pack("<HHL", 0xFFFE, 0xE000, len(fragment)) + fragment
    ds.PixelData = value
    ds["PixelData"].is_undefined_length = True
    out = _save(ds)
    if op == "no_delimiter" and out.endswith(struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)):
        out = out[:-8]
    return out, f"fragments: {op} ({len(fragments)} left)"


# ------------------------------------------------------------------------------ structure bombs
def _insert_point(found: list[Element]) -> tuple[int, bool, bool] | None:
    """(position, implicit, little) just before the first element after group 0008 (for group 0009)."""
    for element in found:
        if element.tag >> 16 > 0x0009 and element.tag >> 16 != 0x0002:
            return _tag_pos(element), element.implicit, element.little
    return None


def _private(tag_element: int, vr: bytes, length: int, implicit: bool, little: bool) -> bytes:
    e = "<" if little else ">"
    head = struct.pack(e + "HH", 0x0009, tag_element)
    if implicit:
        return head + struct.pack(e + "L", length)
    if vr in (b"SQ", b"OB", b"UN", b"UT"):
        return head + vr + b"\0\0" + struct.pack(e + "L", length)
    return head + vr + struct.pack(e + "H", length)


def sequence_bomb(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    found = elements(data)
    point = _insert_point(found)
    if point is None:
        return bit_flips(data, rng)
    at, implicit, little = point
    e = "<" if little else ">"
    creator = _private(0x0010, b"LO", 8, implicit, little) + b"FUZZ BOM"
    kind = rng.choice(("deep", "wide", "unterminated", "length_lie"))
    item = struct.pack(e + "HHL", 0xFFFE, 0xE000, 0xFFFFFFFF)
    item_end = struct.pack(e + "HHL", 0xFFFE, 0xE00D, 0)
    seq_end = struct.pack(e + "HHL", 0xFFFE, 0xE0DD, 0)
    seq = _private(0x1010, b"SQ", 0xFFFFFFFF, implicit, little)
    if kind == "deep":
        depth = rng.choice((64, 500, 3000))
        bomb = (seq + item) * depth + (item_end + seq_end) * depth
        what = f"sequence nested {depth} deep"
    elif kind == "wide":
        width = rng.choice((1000, 20000))
        bomb = seq + (item + item_end) * width + seq_end
        what = f"sequence of {width} empty items"
    elif kind == "unterminated":
        depth = rng.choice((10, 1000))
        bomb = (seq + item) * depth
        what = f"{depth} nested sequences never closed"
    else:
        bomb = _private(0x1010, b"SQ", rng.choice((0x7FFFFFF0, len(data) * 4)), implicit, little) + item
        what = "sequence whose length runs past the file"
    return data[:at] + creator + bomb + data[at:], what


def huge_private(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    found = elements(data)
    point = _insert_point(found)
    if point is None:
        return bit_flips(data, rng)
    at, implicit, little = point
    creator = _private(0x0010, b"LO", 8, implicit, little) + b"FUZZ BIG"
    if rng.random() < 0.5:
        size = rng.choice((1 << 20, 8 << 20))
        element = _private(0x1020, b"OB", size, implicit, little) + bytes(size)
        what = f"private OB element of {size >> 20} MiB"
    else:
        claim = rng.choice((0x7FFFFFF0, 0xFFFFFFF0, 1 << 30))
        element = _private(0x1020, b"OB", claim, implicit, little) + b"\x01" * 64
        what = f"private OB element claiming {claim:,} bytes"
    return data[:at] + creator + element + data[at:], what


MUTATIONS: tuple[tuple[str, Callable[[bytes, random.Random], tuple[bytes, str]], float], ...] = (
    ("bit_flips", bit_flips, 3.0),
    ("truncate", truncate, 1.5),
    ("zero_block", zero_block, 1.5),
    ("length_lie", length_lie, 2.5),
    ("duplicate_chunk", duplicate_chunk, 0.7),
    ("duplicate_element", duplicate_element, 0.7),
    ("frames_lie", frames_lie, 1.5),
    ("dims_lie", dims_lie, 1.5),
    ("pixel_description_lie", pixel_description_lie, 1.5),
    ("transfer_syntax_lie", transfer_syntax_lie, 0.8),
    ("fragment_damage", fragment_damage, 1.5),
    ("sequence_bomb", sequence_bomb, 0.8),
    ("huge_private", huge_private, 0.5),
)


def mutant(seed: int, seeds: tuple[str, ...] = SEEDS, only: str | None = None) -> Mutant:
    """The mutant number ``seed``: same bytes every time (``only``: use that one mutation)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom complains about what the mutations do on purpose
        return _mutant(seed, seeds, only)


def _mutant(seed: int, seeds: tuple[str, ...], only: str | None) -> Mutant:
    rng = random.Random(seed)
    source = seeds[rng.randrange(len(seeds))]
    data = seed_bytes(source)
    steps = []
    names = [m[0] for m in MUTATIONS]
    weights = [m[2] for m in MUTATIONS]
    for _ in range(1 if only else rng.choice((1, 1, 1, 2, 3))):
        name = only or rng.choices(names, weights)[0]
        function = dict((m[0], m[1]) for m in MUTATIONS)[name]
        try:
            data, what = function(data, rng)
        except Exception as exc:  # the previous step left nothing this one can parse
            data, what = bit_flips(data, rng)
            what = f"{what} (instead of {name}: {type(exc).__name__})"
        steps.append(what)
    return Mutant(seed, source, data, tuple(steps))
