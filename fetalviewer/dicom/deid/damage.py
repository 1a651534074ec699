"""Elements of a damaged header that de-identification drops instead of keeping.

A bit flip in a tag, a VR or a length field can put an identifying value under an attribute the
profile keeps (a patient ID read as Scanning Sequence, an institution name swallowed into the value
of Manufacturer). Such an element is inconsistent with the rest of the encoding, and the copy keeps
nothing that is:

* its tag breaks the ascending tag order of the data set in the file (PS3.5 7.1: elements are stored
  in increasing tag order); of the elements as read, only the longest ascending run is trusted;
* its VR, read from an explicit VR file, is not one the data dictionary (PS3.6) gives for the tag;
* a text value holds characters its VR does not allow (PS3.5 6.1 and Table 6.2-1: the control
  characters other than ESC, with CR, LF, FF and TAB also in the long text VRs), the mark of a value
  read past a damaged length, which carries the next elements' tags and lengths in it;
* a text value is longer than its VR allows (Table 6.2-1);
* its tag occurs twice at the top level (pydicom keeps the last value read in the first one's place).

The text of every dropped element is kept as a removed value (:mod:`.removed`), so the same text
found elsewhere in the copy is removed too.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from pydicom.datadict import dictionary_VR

from fetalviewer.dicom.deid.removed import collect, text_values
from fetalviewer.dicom.integrity import MAX_SEQUENCE_DEPTH

#: Maximum value length of the text VRs (PS3.5 Table 6.2-1). A longer value means the element's
#: length field was damaged and its value swallowed the elements after it (identifiers among them).
MAX_TEXT_LENGTH = {
    "AE": 16, "AS": 4, "CS": 16, "DA": 18, "DS": 16, "DT": 54, "IS": 12, "LO": 64, "PN": 324, "SH": 16,
    "TM": 28, "UI": 64,
}  # fmt: skip
_LONG_TEXT_VRS = frozenset({"LT", "ST", "UT", "UC"})
#: C0 and C1 control characters (and DEL) except ESC, which ISO 2022 code extensions use.
_CONTROL = re.compile(r"[\x00-\x1a\x1c-\x1f\x7f-\x9f]")
_CONTROL_LONG_TEXT = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f-\x9f]")


def damage(elem: Any) -> str | None:
    """Why the value of ``elem`` cannot be trusted (None when it is consistent with its VR and tag)."""
    if elem.keyword and not elem.tag.is_private:
        try:
            allowed = dictionary_VR(elem.tag).split(" or ")
        except KeyError:
            allowed = []
        if allowed and elem.VR not in allowed:
            return f"VR {elem.VR}, the dictionary says {' or '.join(allowed)}"
    control = _CONTROL_LONG_TEXT if elem.VR in _LONG_TEXT_VRS else _CONTROL
    limit = MAX_TEXT_LENGTH.get(elem.VR)
    for value in text_values(elem):
        if control.search(value.rstrip("\x00 ")):
            return "control characters in a text value"
        if limit is not None and len(value) > limit:
            return f"a value longer than {limit} characters"
    return None


def _file_position(elem) -> int | None:
    position = getattr(elem, "file_tell", None)
    return getattr(elem, "value_tell", None) if position is None else position


def out_of_order_tags(ds: Any) -> list[int]:
    """Tags of ``ds`` (as read from a file) outside the longest ascending run of tags in file order.

    The file order is the elements' value positions when all are known, else the order pydicom read
    them in. A duplicated tag shows up here too: pydicom keeps the last value read in the first one's
    place, and its position then breaks the order."""
    elements = list(ds._dict.items())
    positions = [_file_position(elem) for _, elem in elements]
    if None not in positions:
        elements = [elements[i] for i in sorted(range(len(elements)), key=positions.__getitem__)]
    tags = [int(tag) for tag, _ in elements]
    if len(tags) < 2:
        return []
    tails: list[int] = []  # tails[k]: index of the smallest tag ending an ascending run of length k+1
    tail_tags: list[int] = []
    previous = [-1] * len(tags)
    for i, tag in enumerate(tags):
        k = bisect.bisect_left(tail_tags, tag)
        previous[i] = tails[k - 1] if k else -1
        if k == len(tails):
            tails.append(i)
            tail_tags.append(tag)
        else:
            tails[k], tail_tags[k] = i, tag
    keep, i = set(), tails[-1]
    while i >= 0:
        keep.add(i)
        i = previous[i]
    return [tag for i, tag in enumerate(tags) if i not in keep]


def drop_out_of_order(ds: Any, removed: set[str], depth: int = 0) -> list[str]:
    """Remove the elements of ``ds`` and of its sequence items that break the file's tag order; their
    text goes into ``removed``. For a data set read from a file (in-memory ones have no file order)."""
    notes = []
    for tag in out_of_order_tags(ds):
        elem = ds[tag]
        collect(elem, removed, everything=True)
        del ds[tag]
        notes.append(f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) is out of tag order: dropped")
    if depth < MAX_SEQUENCE_DEPTH:
        for elem in ds:
            if elem.VR == "SQ" and elem.value is not None:
                for item in elem.value:
                    notes += drop_out_of_order(item, removed, depth + 1)
    return notes


_LONG_HEADER_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"})


def duplicated_tags(path, ds: Any) -> list[int]:
    """Top-level tags that occur more than once in the file at ``path`` (``ds``: its data set as read).

    pydicom keeps only the last of them; when a damaged tag repeats the one just before it, the file
    order cannot show it, so the data set's elements are listed again, without their values, from the
    position of its first element (PS3.5 7.1.2: an 8-byte header, 12 for the long explicit VRs)."""
    from pydicom.filereader import data_element_generator

    implicit, little = getattr(ds, "original_encoding", (None, None))
    positions = [(p, elem) for elem in ds._dict.values() if (p := _file_position(elem)) is not None]
    if implicit is None or little is None or not positions:
        return []
    first_position, first = min(positions, key=lambda pair: pair[0])
    header = 8 if implicit or first.VR not in _LONG_HEADER_VRS else 12
    seen: set[int] = set()
    repeated: set[int] = set()
    try:
        with open(path, "rb") as fh:
            fh.seek(first_position - header)
            stop = lambda tag, vr, length: tag == 0x7FE00010  # noqa: E731 - pydicom's stop_when
            for raw in data_element_generator(fh, implicit, little, stop_when=stop, defer_size=256):
                (repeated if raw.tag in seen else seen).add(raw.tag)
    except Exception:  # the rest is as damaged as pydicom found it: what was listed stands
        pass
    return sorted(tag for tag in repeated if tag in ds._dict)


def drop_duplicated(path, ds: Any, removed: set[str]) -> list[str]:
    """Remove the top-level elements of ``ds`` whose tag occurs twice in the file (:func:`duplicated_tags`)."""
    notes = []
    for tag in duplicated_tags(path, ds):
        collect(ds[tag], removed, everything=True)
        del ds[tag]
        notes.append(f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) occurs twice: dropped")
    return notes
