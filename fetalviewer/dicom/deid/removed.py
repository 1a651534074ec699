"""The values de-identification removes or replaces, and the search for them in what it keeps.

The profile knows what it takes out of a header: the values of the elements it removes or empties
(names, IDs, institution, addresses, free text), the original UIDs it remaps, and the text of
elements it drops as damaged (:mod:`.damage`). None of those values may remain anywhere in the copy,
whatever attribute a damaged file put them under. Every kept text element (nested sequences
included) is searched for them with the log redaction's whole-token rule
(:func:`fetalviewer.logsetup.whole_token_pattern`); an element that holds one is removed before the
copy is written, and the read-back check refuses a written copy that still holds one.

Not searched: UIDs (every kept UID is a registered one or a fresh remapped one) and the attributes the
de-identifier writes itself. Not collected from an intact element: descriptions, codes, numbers,
dates and times (the date identifiers are searched on their own), values shorter than 3 characters
(a sex "F" or a study ID "1" would match everywhere), registered UIDs, and the contents of private
elements, which are removed whole (vendor data; a private element out of tag order is collected as
damaged).
"""

from __future__ import annotations

import re
from typing import Any

from pydicom.uid import UID

from fetalviewer.dicom.integrity import MAX_SEQUENCE_DEPTH
from fetalviewer.logsetup import whole_token_pattern

#: VRs whose values are text (PS3.5 Table 6.2-1).
TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)
#: Person names and free text: collected wherever the profile removes or empties them.
_FREE_TEXT_VRS = frozenset({"PN", "LT", "ST", "UT", "UC"})
#: Other attributes whose removed values identify a patient, a person, a place or a device (PS3.15
#: Table E.1-1). Descriptions, codes, numbers and dates are not collected: a removed "ABDOMEN" or
#: "DCM" would take the same word out of kept attributes where it identifies nobody.
IDENTIFYING_KEYWORDS = frozenset(
    {
        "PatientID", "OtherPatientIDs", "IssuerOfPatientID", "AccessionNumber", "StudyID", "AdmissionID",
        "ServiceEpisodeID", "RequestedProcedureID", "PerformedProcedureStepID",
        "PlacerOrderNumberImagingServiceRequest", "FillerOrderNumberImagingServiceRequest",
        "MedicalRecordLocator", "ClinicalTrialSubjectID", "ClinicalTrialSubjectReadingID",
        "ClinicalTrialSponsorName", "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
        "StationName", "PerformedStationName", "PerformedStationAETitle", "PerformedLocation",
        "DeviceSerialNumber", "PatientAddress", "PatientTelephoneNumbers", "ReferringPhysicianAddress",
        "ReferringPhysicianTelephoneNumbers", "CurrentPatientLocation", "PatientInstitutionResidence",
        "ResponsibleOrganization", "RegionOfResidence", "BranchOfService", "MilitaryRank",
        "OrderEntererLocation", "OrderCallbackPhoneNumber", "Occupation", "PatientComments", "ImageComments",
        "StudyComments", "VisitComments", "AdditionalPatientHistory", "MedicalAlerts", "Allergies",
        "RequestingService", "TextComments", "TextString", "InterpretationText", "AcquisitionComments",
        "FrameComments", "ReasonForStudy", "ReasonForTheRequestedProcedure",
    }
)  # fmt: skip
#: Attributes the de-identifier itself writes into the copy (never source values).
REWRITTEN_KEYWORDS = frozenset(
    {
        "PatientName", "PatientID", "PatientIdentityRemoved", "DeidentificationMethod",
        "DeidentificationMethodCodeSequence", "LongitudinalTemporalInformationModified",
        "BurnedInAnnotation", "PhotometricInterpretation",
    }
)  # fmt: skip
MIN_LENGTH = 3
#: Runs of control characters: the separators between the pieces of a value read past a damaged
#: length (element tags, VRs and lengths in binary between the swallowed values).
_CONTROL_RUN = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e]{6,}")


def text_values(elem: Any) -> list[str]:
    """The values of a text element as strings (empty for other VRs and empty values)."""
    if elem.VR not in TEXT_VRS or elem.value is None:
        return []
    values = elem.value if elem.VM > 1 else [elem.value]
    return [str(v) for v in values if v is not None and str(v) != ""]


def _pieces(value: str, vr: str) -> list[str]:
    pieces = [p.strip() for p in _CONTROL_RUN.split(value)]
    if vr == "PN":
        pieces += [part for p in pieces for part in re.split(r"[\^=]+", p)]
    return [p for p in pieces if len(p) >= MIN_LENGTH and any(c.isalnum() for c in p)]


def collect(elem: Any, removed: set[str], everything: bool = False, depth: int = 0) -> None:
    """Add the identifying text of ``elem`` (and of its sequence items) to ``removed``.

    Identifying: person names, free text, the attributes of :data:`IDENTIFYING_KEYWORDS` and the
    original (unregistered) UIDs; ``everything`` for an element dropped as damaged, whose tag or VR
    cannot be trusted: then every text piece of it, and the printable runs of an unknown binary one.
    """
    if elem.VR == "SQ":
        for item in elem.value or []:
            if depth < MAX_SEQUENCE_DEPTH:
                for child in item:
                    collect(child, removed, everything, depth + 1)
        return
    if elem.VR in TEXT_VRS:
        if not everything and not (
            elem.VR in _FREE_TEXT_VRS or elem.keyword in IDENTIFYING_KEYWORDS or elem.VR == "UI"
        ):
            return
        for value in text_values(elem):
            if elem.VR == "UI" and UID(value.strip().rstrip("\x00")).name != value.strip().rstrip("\x00"):
                continue  # a registered UID (SOP class, transfer syntax): public
            removed.update(_pieces(value, elem.VR))
    elif everything and isinstance(elem.value, (bytes, bytearray)):
        removed.update(m.group().decode("ascii").strip() for m in _PRINTABLE_RUN.finditer(elem.value))


def _kept_text(ds: Any, depth: int = 0):
    """(data set, tag, value) for every searched text value of ``ds`` and of its sequence items."""
    for elem in ds:
        if elem.keyword in REWRITTEN_KEYWORDS:
            continue
        if elem.VR == "SQ":
            if depth < MAX_SEQUENCE_DEPTH:
                for item in elem.value or []:
                    yield from _kept_text(item, depth + 1)
        elif elem.VR != "UI":
            for value in text_values(elem):
                yield ds, elem.tag, value


def drop_kept_matches(ds: Any, removed) -> list[str]:
    """Remove every element of ``ds`` (at any depth) whose text holds a removed value; one note each."""
    pattern = whole_token_pattern(removed)
    if pattern is None:
        return []
    hits = {(id(owner), tag): (owner, tag) for owner, tag, value in _kept_text(ds) if pattern.search(value)}
    notes = []
    for owner, tag in hits.values():
        if tag in owner:
            del owner[tag]
            notes.append(f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) held a removed value: dropped")
    return notes


def find_kept_matches(ds: Any, removed) -> list[str]:
    """The removed values still found in the text of ``ds`` (sorted)."""
    pattern = whole_token_pattern(removed)
    if pattern is None:
        return []
    found = {m.group().upper() for _, _, value in _kept_text(ds) for m in pattern.finditer(value)}
    return sorted(v for v in removed if v.upper() in found)
