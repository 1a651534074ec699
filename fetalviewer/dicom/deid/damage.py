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
* a text value is longer than its VR allows (Table 6.2-1).

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


def out_of_order_tags(ds: Any) -> list[int]:
    """Tags of ``ds`` (as read from a file, in file order) outside the longest ascending run of tags."""
    tags = [int(t) for t in ds._dict]  # insertion order is the order in the file
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
