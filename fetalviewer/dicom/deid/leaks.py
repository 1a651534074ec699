"""The after-export check: the original identifier strings of a source, searched in written files."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from fetalviewer.dicom.deid.profile import _BINARY_VRS, _DATE_KEYWORDS, _IDENTIFIER_KEYWORDS, DeidOptions
from fetalviewer.dicom.deid.removed import find_kept_matches


def identifier_strings(ds: Dataset, options: DeidOptions) -> frozenset[str]:
    """The original identifier strings that must not appear in a de-identified file."""
    found: set[str] = set()
    for keyword in _IDENTIFIER_KEYWORDS:
        for value in _values(ds[keyword] if keyword in ds else None):
            found.add(value)
            if ds[keyword].VR == "PN":
                found.update(part for part in re.split(r"[\^=\s]+", value) if len(part) >= 2)
    for keyword in _DATE_KEYWORDS:
        found.update(v for v in _values(ds[keyword] if keyword in ds else None) if len(v) >= 8)
    return frozenset(v for v in found if len(v) >= 2)


def _values(elem) -> list[str]:
    if elem is None or elem.value in (None, "", b""):
        return []
    values = elem.value if elem.VM > 1 else [elem.value]
    return [str(v).strip() for v in values if str(v).strip()]


def _header_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        pydicom.dcmread(fh, stop_before_pixels=True)
        end = fh.tell()
        fh.seek(0)
        return fh.read(end)


def _text_values(ds: Dataset):
    """(VR, value) for every text value in ``ds`` and its sequences."""
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                yield from _text_values(item)
        elif elem.VR not in _BINARY_VRS:
            for value in _values(elem):
                yield elem.VR, value.upper()


@cache
def _vocabulary() -> dict[tuple[str, str], str]:
    """(coding scheme, code value) -> code meaning (upper case) of every code in pydicom's dictionary of
    the standard's coded concepts (PS3.16); empty when that table cannot be read."""
    try:
        from pydicom.sr._concepts_dict import concepts
    except ImportError:  # pragma: no cover - a pydicom without the table: nothing is exempt
        return {}
    return {
        (scheme, value): meaning.upper()
        for scheme, by_keyword in concepts.items()
        for by_value in by_keyword.values()
        for value, (meaning, _cids) in by_value.items()
    }


def _standard_meanings(ds: Dataset) -> set[str]:
    """Code meanings in ``ds`` that are the dictionary's meaning of their own code: vocabulary of the
    standard, which the leak check does not search (a patient called NAME^PATIENT would otherwise make
    every report's "Device Observer Name" a leak). Any other text, damaged codes included, is searched."""
    found: set[str] = set()
    for elem in ds:
        if elem.VR != "SQ":
            continue
        for item in elem.value:
            meaning = str(item.get("CodeMeaning", "") or "").strip().upper()
            key = (str(item.get("CodingSchemeDesignator", "") or ""), str(item.get("CodeValue", "") or ""))
            if meaning and _vocabulary().get(key) == meaning:
                found.add(meaning)
            found |= _standard_meanings(item)
    return found


def _words(texts) -> set[str]:
    return {w for t in texts for w in re.split(r"[^0-9A-Z]+", t) if w}


def find_identifier_leaks(path: Path | str, identifiers, removed=()) -> list[str]:
    """Identifier strings, and values the de-identifier removed, still present in the header of the
    file at ``path``.

    Identifiers of 6+ characters are searched in the raw header bytes (catches any element, private
    ones included); identifiers of 3+ characters as whole words in every text value and, from 4
    characters on, as substrings of them; two-character name parts (initials) as words of PN values
    only, since words like "OB" legitimately occur in coded values ("OB_GENERAL"). ``removed`` values
    (:mod:`.removed`) are searched as whole tokens in every text value but UIDs and the attributes
    the de-identifier writes itself.
    """
    path = Path(path)
    raw = _header_bytes(path).decode("latin-1").upper()
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    vocabulary = _standard_meanings(ds)
    for meaning in vocabulary:  # "Device Observer Name" is the standard's wording, not a patient's name
        raw = raw.replace(meaning, "")
    pairs = [(vr, value) for vr, value in _text_values(ds) if value not in vocabulary]
    texts = [value for _, value in pairs]
    words = _words(texts)
    person_words = _words(value for vr, value in pairs if vr == "PN")
    leaks = []
    for ident in sorted(identifiers):
        key = ident.upper()
        if len(key) < 3:
            found = key in person_words
        else:
            found = (
                (len(key) >= 6 and key in raw)
                or key in words
                or (len(key) >= 4 and any(key in t for t in texts))
            )
        if found:
            leaks.append(ident)
    return sorted({*leaks, *find_kept_matches(ds, removed)})


def find_text_leaks(text: str, identifiers) -> list[str]:
    """Identifier strings present in a free-text export (PDF text, CSV, JSON).

    Identifiers of 3+ characters are searched as whole words, of 6+ also as substrings; 8-digit dates
    also in the ISO form (2011-05-25) the report prints. Two-character name parts cannot be told from
    ordinary words in free text and are checked in DICOM headers only (:func:`find_identifier_leaks`).
    """
    upper = text.upper()
    words = _words([upper])
    leaks = []
    for ident in sorted(identifiers):
        key = ident.upper()
        variants = [key]
        if len(key) == 8 and key.isdigit():
            variants.append(f"{key[:4]}-{key[4:6]}-{key[6:]}")
        if len(key) < 3:
            continue
        if any(v in words or (len(v) >= 6 and v in upper) for v in variants):
            leaks.append(ident)
    return leaks
