"""De-identification of ultrasound instances (Qt-free, pydicom only).

Implements, for the attributes that occur in ultrasound files, the **Basic Application Level
Confidentiality Profile** of DICOM PS3.15 Annex E (Table E.1-1 actions: D/Z replace, X remove,
U remap UIDs), with these options:

* **Clean Pixel Data Option** (PS3.15 E.3.1): every frame is decoded, converted to 8-bit gray or RGB
  (PALETTE COLOR and YBR become RGB, MONOCHROME1 becomes MONOCHROME2) and every pixel outside the 2D
  imaging region(s) of the Sequence of Ultrasound Regions is set to black, which removes the vendor
  banner (patient name, ID, dates) burned into ultrasound frames. Pixels are re-encoded RLE Lossless
  (uncompressed when no RLE encoder is installed).
* **Retain Longitudinal Temporal Information with Modified Dates** (E.3.6) when a day shift is given;
  otherwise all dates and times are removed (zero-length where the attribute is Type 2).

Beyond the table, as belt and braces: private tags, overlay (60xx) and curve (50xx) groups are
removed; every PN element is emptied; free-text LT/ST/UT elements are removed; every UID that is not a
registered DICOM UID is remapped. The UID map is deterministic within one export (one :class:`UidMap`),
so references between instances of a study stay consistent.

After an export every written file is read back and the export fails, deleting what it wrote, if an
original identifier string is still present (:func:`find_identifier_leaks`).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import hashlib
import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, RLELossless, generate_uid

from fetalviewer.atomic import atomic_path
from fetalviewer.errors import DicomReadError, ExportError

#: Table E.1-1 actions (subset for US and general modules). Z: empty (Type 2), X: remove.
ZERO_KEYWORDS = frozenset(
    {
        "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
        "ReferringPhysicianName", "StudyID", "AccessionNumber", "ContentDate", "ContentTime",
        "ContentCreatorName", "VerifyingObserverName", "PersonName",
    }
)  # fmt: skip
REMOVE_KEYWORDS = frozenset(
    {
        "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "InstitutionCodeSequence",
        "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
        "ReferringPhysicianIdentificationSequence", "ConsultingPhysicianName", "StationName",
        "StudyDescription", "SeriesDescription", "PhysiciansOfRecord", "PhysiciansOfRecordIdentificationSequence",
        "PerformingPhysicianName", "PerformingPhysicianIdentificationSequence", "NameOfPhysiciansReadingStudy",
        "PhysiciansReadingStudyIdentificationSequence", "OperatorsName", "OperatorIdentificationSequence",
        "AdmittingDiagnosesDescription", "AdmittingDiagnosesCodeSequence", "DerivationDescription",
        "IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence", "OtherPatientIDs", "OtherPatientNames",
        "OtherPatientIDsSequence", "PatientBirthName", "PatientBirthTime", "PatientAge", "PatientSize",
        "PatientWeight", "PatientAddress", "PatientMotherBirthName", "MilitaryRank", "BranchOfService",
        "MedicalRecordLocator", "MedicalAlerts", "Allergies", "CountryOfResidence", "RegionOfResidence",
        "PatientTelephoneNumbers", "EthnicGroup", "Occupation", "SmokingStatus", "AdditionalPatientHistory",
        "PregnancyStatus", "LastMenstrualDate", "PatientReligiousPreference", "PatientComments",
        "PatientSexNeutered", "PatientInsurancePlanCodeSequence", "PatientPrimaryLanguageCodeSequence",
        "PatientState", "PatientTransportArrangements", "CurrentPatientLocation",
        "PatientInstitutionResidence", "ResponsiblePerson", "ResponsibleOrganization", "DeviceSerialNumber",
        "ProtocolName", "ImageComments", "FrameComments", "RequestAttributesSequence", "StudyComments",
        "RequestingPhysician", "RequestingService", "ReferencedPatientSequence", "ReferencedStudySequence",
        "ReferencedPerformedProcedureStepSequence", "PerformedProcedureStepID",
        "PerformedProcedureStepDescription", "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime", "PerformedProcedureStepEndDate", "PerformedProcedureStepEndTime",
        "PerformedLocation", "PerformedStationName", "PerformedStationAETitle",
        "ScheduledProcedureStepDescription", "ScheduledPerformingPhysicianName",
        "RequestedProcedureDescription", "RequestedProcedureID", "ReasonForStudy",
        "ReasonForTheRequestedProcedure", "AcquisitionComments", "AuthorObserverSequence",
        "ContributingEquipmentSequence", "SoftwareVersions", "TextComments", "TextString",
        "VisitComments", "ServiceEpisodeDescription", "ServiceEpisodeID", "AdmissionID",
        "DischargeDiagnosisDescription", "OrderEnteredBy", "OrderEntererLocation", "OrderCallbackPhoneNumber",
        "PlacerOrderNumberImagingServiceRequest", "FillerOrderNumberImagingServiceRequest",
        "IssuerOfAccessionNumberSequence", "DigitalSignaturesSequence", "DataSetTrailingPadding",
        "TimezoneOffsetFromUTC", "GraphicAnnotationSequence", "InterpretationText",
        "ClinicalTrialSponsorName", "ClinicalTrialSubjectID", "ClinicalTrialSubjectReadingID",
        "ReferencedImageSequence", "SourceImageSequence", "ReferencedSeriesSequence",
    }
)  # fmt: skip

#: Free-text VRs removed wherever they occur (the Basic Profile's "clean descriptors" done bluntly).
_FREE_TEXT_VRS = frozenset({"LT", "ST", "UT"})
_DATE_VRS = frozenset({"DA", "DT", "TM"})
_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN", "US", "SS", "UL", "SL", "FL", "FD", "AT"})

#: CID 7050 de-identification method codes (PS3.16).
CODE_BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
CODE_CLEAN_PIXELS = ("113101", "Clean Pixel Data Option")
CODE_MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")

#: Identifier attributes whose original values the after-export check looks for.
_IDENTIFIER_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "InstitutionName",
    "InstitutionAddress", "OperatorsName", "ReferringPhysicianName", "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy", "OtherPatientIDs", "OtherPatientNames", "StationName",
    "DeviceSerialNumber", "PatientAddress", "PatientTelephoneNumbers", "PatientBirthName",
    "PatientMotherBirthName", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
)  # fmt: skip
_DATE_KEYWORDS = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "PatientBirthDate")


@dataclass(frozen=True)
class DeidOptions:
    """What to do with dates; ``date_shift_days`` None means remove every date and time."""

    date_shift_days: int | None = None
    clean_pixels: bool = True

    def __post_init__(self) -> None:
        if self.date_shift_days is not None:
            if isinstance(self.date_shift_days, bool) or not isinstance(self.date_shift_days, int):
                raise TypeError(f"date_shift_days must be an int or None, got {self.date_shift_days!r}")
            if abs(self.date_shift_days) > 365 * 200:
                raise ValueError(f"date_shift_days {self.date_shift_days} is out of range")

    @property
    def remove_dates(self) -> bool:
        return self.date_shift_days is None


@dataclass
class UidMap:
    """Deterministic UID remapping within one export: same input UID, same output UID."""

    salt: str = field(default_factory=lambda: secrets.token_hex(16))
    _map: dict[str, str] = field(default_factory=dict)

    def __call__(self, uid: str) -> str:
        uid = str(uid).strip().rstrip("\x00")
        if not uid:
            return uid
        if uid not in self._map:
            self._map[uid] = str(generate_uid(prefix=None, entropy_srcs=[self.salt, uid]))
        return self._map[uid]

    def pseudonym(self, value: str, prefix: str = "ANON") -> str:
        digest = hashlib.sha256(f"{self.salt}|{value}".encode()).hexdigest()[:10].upper()
        return f"{prefix}-{digest}"


def _is_registered_uid(uid: str) -> bool:
    """True for SOP classes, transfer syntaxes and other UIDs of the DICOM registry (kept as is)."""
    return UID(uid).name != uid


def _shift_date_text(value: str, days: int, vr: str) -> str | None:
    """Shift a DA or DT value by ``days``; None when it cannot be parsed (then it is removed)."""
    text = value.strip()
    if len(text) < 8 or not text[:8].isdigit():
        return None
    try:
        day = _dt.date(int(text[:4]), int(text[4:6]), int(text[6:8])) + _dt.timedelta(days=days)
    except ValueError:
        return None
    return day.strftime("%Y%m%d") + (text[8:] if vr == "DT" else "")


def _clean_dataset(ds: Dataset, options: DeidOptions, uid_map: UidMap) -> None:
    """Apply the header actions to ``ds`` and every nested sequence item, in place."""
    for elem in list(ds):
        tag = elem.tag
        group = tag.group
        if tag.is_private or 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
            del ds[tag]
            continue
        if tag == 0x7FE00010:
            continue
        keyword = elem.keyword
        if keyword in REMOVE_KEYWORDS:
            del ds[tag]
            continue
        if elem.VR == "SQ":
            for item in elem.value:
                _clean_dataset(item, options, uid_map)
            continue
        if keyword in ZERO_KEYWORDS and elem.VR not in _DATE_VRS:
            elem.value = ""
            continue
        if elem.VR == "UI":
            values = elem.value if elem.VM > 1 else [elem.value]
            mapped = [v if not v or _is_registered_uid(v) else uid_map(v) for v in values]
            elem.value = mapped if elem.VM > 1 else mapped[0]
        elif elem.VR in _DATE_VRS:
            _clean_date_element(ds, elem, options)
        elif elem.VR == "PN":
            elem.value = ""
        elif elem.VR in _FREE_TEXT_VRS:
            del ds[tag]


def _clean_date_element(ds: Dataset, elem, options: DeidOptions) -> None:
    keep_empty = elem.keyword in ZERO_KEYWORDS
    if elem.keyword == "PatientBirthDate" or options.remove_dates:
        if keep_empty:
            elem.value = ""
        else:
            del ds[elem.tag]
        return
    if elem.VR == "TM" or not elem.value:
        return  # times are kept with the modified-dates option
    values = elem.value if elem.VM > 1 else [elem.value]
    shifted = [_shift_date_text(str(v), options.date_shift_days, elem.VR) for v in values]
    if any(s is None for s in shifted):
        if keep_empty:
            elem.value = ""
        else:
            del ds[elem.tag]
        return
    elem.value = shifted if elem.VM > 1 else shifted[0]


def imaging_boxes(ds: Dataset) -> list[tuple[int, int, int, int]]:
    """Inclusive pixel boxes (x0, y0, x1, y1) of the 2D imaging regions (tissue or colour flow),
    clipped to the image; from the Sequence of Ultrasound Regions (PS3.3 C.8.5.5)."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    boxes = []
    for region in ds.get("SequenceOfUltrasoundRegions", []):
        if int(region.get("RegionSpatialFormat", 0)) != 1:
            continue
        if int(region.get("RegionDataType", 0)) not in (1, 2):
            continue
        x0 = max(0, int(region.RegionLocationMinX0))
        y0 = max(0, int(region.RegionLocationMinY0))
        x1 = min(cols - 1, int(region.RegionLocationMaxX1))
        y1 = min(rows - 1, int(region.RegionLocationMaxY1))
        if x1 >= x0 and y1 >= y0:
            boxes.append((x0, y0, x1, y1))
    return boxes


def blackout_outside(frames: np.ndarray, boxes, frame_ndim: int) -> np.ndarray:
    """Return a copy of ``frames`` (one frame or a stack) that is 0 outside the union of ``boxes``."""
    keep = np.zeros(frames.shape[-frame_ndim:][:2], dtype=bool)
    for x0, y0, x1, y1 in boxes:
        keep[y0 : y1 + 1, x0 : x1 + 1] = True
    cleaned = frames.copy()
    if frame_ndim == 3:
        cleaned[..., ~keep, :] = 0
    else:
        cleaned[..., ~keep] = 0
    return cleaned


def decode_frames_uint8(ds: Dataset, path: Path | str = "") -> tuple[np.ndarray, str]:
    """All frames as uint8, (n, rows, cols) gray or (n, rows, cols, 3) RGB, and the photometric name."""
    from pydicom.pixels import apply_color_lut

    try:
        arr = ds.pixel_array
    except Exception as exc:  # decoder missing, truncated data, ...
        raise DicomReadError(f"{path}: pixel data cannot be decoded ({exc})") from exc
    photometric = str(ds.PhotometricInterpretation).strip()
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.SamplesPerPixel)
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)
        if rgb.dtype != np.uint8:
            rgb = (rgb >> 8) if int(rgb.max(initial=0)) > 255 else rgb
        arr, photometric = rgb.astype(np.uint8), "RGB"
    elif samples == 3:
        photometric = "RGB"  # pydicom converts YBR_* to RGB when decoding
    else:
        bits = int(ds.get("BitsStored", 8))
        if arr.dtype != np.uint8:
            arr = np.clip(arr.astype(np.float64) / max(1, (1 << bits) - 1) * 255.0, 0, 255).astype(np.uint8)
        if photometric == "MONOCHROME1":
            arr = 255 - arr
        photometric = "MONOCHROME2"
    per_frame_ndim = 3 if photometric == "RGB" else 2
    if n_frames == 1 and arr.ndim == per_frame_ndim:
        arr = arr[np.newaxis]
    return np.ascontiguousarray(arr, dtype=np.uint8), photometric


def _decode_with_engine(path: Path | str) -> tuple[np.ndarray, str]:
    """All frames through the app's own DICOM engine (same colour conversion as the viewer, and its
    YBR conversion is several times faster than pydicom's); uint8 gray or RGB."""
    from fetalviewer.dicom.instance import open_instance

    with open_instance(path, cache_mb=0) as loop:
        first = loop.frame(0)
        frames = np.empty((loop.n_frames, *first.shape), dtype=np.uint8)
        frames[0] = first
        for index in range(1, loop.n_frames):
            frames[index] = loop.frame(index)
    return frames, ("RGB" if first.ndim == 3 else "MONOCHROME2")


def _store_pixels(ds: Dataset, frames: np.ndarray, photometric: str) -> None:
    """Write ``frames`` into ``ds`` as 8-bit RLE Lossless (or uncompressed) with consistent attributes."""
    for keyword in (
        "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
        "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
        "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
        "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
        "SegmentedBluePaletteColorLookupTableData", "PaletteColorLookupTableUID", "PixelPaddingValue",
        "SmallestImagePixelValue", "LargestImagePixelValue", "PlanarConfiguration",
    ):  # fmt: skip
        if keyword in ds:
            delattr(ds, keyword)
    ds.PhotometricInterpretation = photometric
    ds.SamplesPerPixel = 3 if photometric == "RGB" else 1
    if photometric == "RGB":
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    data = frames[0] if frames.shape[0] == 1 else frames
    try:
        ds.compress(RLELossless, data, encoding_plugin="pylibjpeg", generate_instance_uid=False)
    except Exception:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = data.tobytes()
        ds["PixelData"].VR = "OB"


def _repair_code_strings(ds: Dataset) -> None:
    """Replace characters that VR CS forbids (vendor files carry e.g. "ABDOM/RAD") with "_"."""
    for elem in ds:
        if elem.VR == "CS" and elem.value:
            values = elem.value if elem.VM > 1 else [elem.value]
            fixed = [re.sub(r"[^A-Z0-9 _]", "_", str(v)) for v in values]
            if fixed != [str(v) for v in values]:
                elem.value = fixed if elem.VM > 1 else fixed[0]


def _repair_code_sequences(ds: Dataset) -> None:
    """Drop code sequence items without a code value and meaning (vendor files carry empty ones, which
    validators reject); a code sequence left empty is removed."""
    for elem in list(ds):
        if elem.VR != "SQ":
            continue
        for item in elem.value:
            _repair_code_sequences(item)
        if elem.keyword.endswith("CodeSequence"):
            kept = [
                item
                for item in elem.value
                if "CodeMeaning" in item
                and any(k in item for k in ("CodeValue", "LongCodeValue", "URNCodeValue"))
            ]
            if not kept:
                del ds[elem.tag]
            elif len(kept) != len(elem.value):
                elem.value = Sequence(kept)


def _code_item(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
    return item


def deidentify_dataset(ds: Dataset, options: DeidOptions, uid_map: UidMap, path: Path | str = "") -> Dataset:
    """Return a de-identified copy of ``ds`` (pixel data cleaned when it has any)."""
    out = copy.deepcopy(ds)
    has_pixels = "PixelData" in out
    if has_pixels and options.clean_pixels:
        boxes = imaging_boxes(out)
        if not boxes:
            raise ExportError(
                f"{path}: no 2D imaging region in the Sequence of Ultrasound Regions, so burned-in text "
                "cannot be removed safely; this file is not exported"
            )
        frames, photometric = _decode_with_engine(path) if path else decode_frames_uint8(out, path)
        cleaned = blackout_outside(frames, boxes, 3 if photometric == "RGB" else 2)
    original_id = str(ds.get("PatientID", ""))
    _clean_dataset(out, options, uid_map)
    out.PatientName = "ANONYMOUS^"  # family name only (trailing caret: one component on purpose)
    out.PatientID = uid_map.pseudonym(original_id or str(ds.get("StudyInstanceUID", "")))
    if str(out.get("Modality", "")) == "US" and "Laterality" not in out and has_pixels:
        out.Laterality = ""  # Type 2C of General Series; absent in some vendor files (dciodvfy error)
    if has_pixels and "PatientOrientation" not in out:
        out.PatientOrientation = ""  # Type 2C of General Image
    _repair_code_strings(out)
    _repair_code_sequences(out)
    if has_pixels and options.clean_pixels:
        _store_pixels(out, cleaned, photometric)
        out.BurnedInAnnotation = "NO"
    out.PatientIdentityRemoved = "YES"
    codes = [CODE_BASIC_PROFILE] + ([CODE_CLEAN_PIXELS] if has_pixels and options.clean_pixels else [])
    if not options.remove_dates:
        codes.append(CODE_MODIFIED_DATES)
    out.LongitudinalTemporalInformationModified = "REMOVED" if options.remove_dates else "MODIFIED"
    out.DeidentificationMethod = [
        "FetalViewer PS3.15 Basic Profile",
        *(["Clean Pixel Data (outside 2D regions)"] if has_pixels and options.clean_pixels else []),
        "Dates removed" if options.remove_dates else "Dates shifted",
    ]
    out.DeidentificationMethodCodeSequence = Sequence([_code_item(v, m) for v, m in codes])
    # Whatever the source's encoding (big endian, implicit VR), the copy is written explicit VR little endian.
    out.set_original_encoding(False, True, out.get("SpecificCharacterSet"))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = out.SOPClassUID
    meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    meta.TransferSyntaxUID = out.file_meta.TransferSyntaxUID if has_pixels else ExplicitVRLittleEndian
    out.file_meta = meta
    return out


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


def _words(texts) -> set[str]:
    return {w for t in texts for w in re.split(r"[^0-9A-Z]+", t) if w}


def find_identifier_leaks(path: Path | str, identifiers) -> list[str]:
    """Identifier strings still present in the header of the file at ``path``.

    Identifiers of 6+ characters are searched in the raw header bytes (catches any element, private
    ones included); identifiers of 3+ characters as whole words in every text value and, from 4
    characters on, as substrings of them; two-character name parts (initials) as words of PN values
    only, since words like "OB" legitimately occur in coded values ("OB_GENERAL").
    """
    path = Path(path)
    raw = _header_bytes(path).decode("latin-1").upper()
    pairs = list(_text_values(pydicom.dcmread(path, stop_before_pixels=True)))
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
    return leaks


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


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class ExportStaging:
    """All-or-nothing export into ``out_dir``: files are written into a hidden staging folder beside
    their targets and moved into place only by :meth:`commit`; any failure removes everything staged."""

    def __init__(self, out_dir: Path | str) -> None:
        self.out_dir = Path(out_dir)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.staging_dir = Path(tempfile.mkdtemp(prefix=".fetalviewer-export-", dir=self.out_dir))
        except OSError as exc:
            raise ExportError(f"{self.out_dir}: cannot create the export folder ({exc})") from exc
        self.names: list[str] = []

    def path(self, name: str) -> Path:
        """Staged path for output file ``name`` (a plain file name, unique within the export)."""
        if not name or Path(name).name != name or name.startswith("."):
            raise ValueError(f"name must be a plain file name, got {name!r}")
        if name in self.names:
            raise ValueError(f"name {name!r} is already part of this export")
        self.names.append(name)
        return self.staging_dir / name

    def commit(self) -> list[Path]:
        moved: list[Path] = []
        try:
            for name in self.names:
                if (self.staging_dir / name).exists():
                    os.chmod(self.staging_dir / name, 0o644 & ~_current_umask())
                    os.replace(self.staging_dir / name, self.out_dir / name)
                    moved.append(self.out_dir / name)
        except OSError as exc:
            for path in moved:
                with contextlib.suppress(OSError):
                    path.unlink()
            self.abort()
            raise ExportError(f"{self.out_dir / name}: cannot move the export into place ({exc})") from exc
        shutil.rmtree(self.staging_dir, ignore_errors=True)
        return moved

    def abort(self) -> None:
        shutil.rmtree(self.staging_dir, ignore_errors=True)

    def __enter__(self) -> ExportStaging:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


def write_dataset_atomic(ds: Dataset, target: Path | str) -> Path:
    """Save ``ds`` as a DICOM Part 10 file through a temporary file and a rename."""
    with atomic_path(target) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return Path(target)


@dataclass(frozen=True)
class DeidExported:
    """One de-identified file: where it came from and where it went (inside the export folder)."""

    source: Path
    output: Path
    sop_instance_uid: str


def deidentify_files(
    paths, out_dir: Path | str, options: DeidOptions, uid_map: UidMap | None = None, staging=None
) -> list[DeidExported]:
    """De-identify DICOM files into ``out_dir`` (names ``DEID_0001.dcm``...), then read every written
    file back and check it for the original identifiers; all-or-nothing.

    With ``staging`` (an :class:`ExportStaging` owned by a larger export) files are only staged and
    the caller commits. Raises :class:`ExportError` naming the file and the problem.
    """
    uid_map = uid_map or UidMap()
    own = staging is None
    staging = ExportStaging(out_dir) if own else staging
    written: list[tuple[Path, Path, str, frozenset[str]]] = []
    try:
        for number, source in enumerate(paths, start=1):
            source = Path(source)
            try:
                ds = pydicom.dcmread(source)
            except Exception as exc:
                raise ExportError(f"{source}: not readable as DICOM ({exc})") from exc
            identifiers = identifier_strings(ds, options)
            clean = deidentify_dataset(ds, options, uid_map, source)
            name = f"DEID_{number:04d}.dcm"
            try:
                write_dataset_atomic(clean, staging.path(name))
            except ExportError:
                raise
            except Exception as exc:
                raise ExportError(f"{source}: writing the de-identified copy {name} failed ({exc})") from exc
            written.append((source, staging.staging_dir / name, str(clean.SOPInstanceUID), identifiers))
        for source, staged, _, identifiers in written:
            leaks = find_identifier_leaks(staged, identifiers)
            if leaks:
                raise ExportError(
                    f"{staged.name} (from {source}): original identifiers still present after "
                    f"de-identification: {', '.join(leaks)}; nothing was exported"
                )
    except BaseException:
        if own:
            staging.abort()
        raise
    if own:
        staging.commit()
    return [DeidExported(src, staging.out_dir / staged.name, uid) for src, staged, uid, _ in written]
