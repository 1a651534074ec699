"""PS3.15 Annex E Basic Application Level Confidentiality Profile on the header: Table E.1-1 actions for
the attributes of ultrasound files, UID remapping, date removal or shifting, and the de-identified copy
of one dataset (pixels cleaned through :mod:`.pixels`)."""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from fetalviewer.dicom.deid.damage import damage
from fetalviewer.dicom.deid.pixels import imaging_boxes
from fetalviewer.dicom.deid.removed import collect, drop_kept_matches
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


def _clean_dataset(ds: Dataset, options: DeidOptions, uid_map: UidMap, removed: set[str]) -> None:
    """Apply the header actions to ``ds`` and every nested sequence item, in place; the text of what
    is removed, emptied or replaced goes into ``removed`` (:mod:`.removed`)."""
    for elem in list(ds):
        tag = elem.tag
        group = tag.group
        if tag.is_private:
            del ds[tag]  # vendor data, removed whole (not collected: see .removed)
            continue
        if 0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF:
            collect(elem, removed)
            del ds[tag]
            continue
        if tag == 0x7FE00010:
            continue
        keyword = elem.keyword
        damaged = not keyword or group < 0x0008 or damage(elem) is not None
        if damaged or keyword in REMOVE_KEYWORDS or _patient_or_trial_group(elem):
            # Not a known attribute (e.g. a damaged tag that may hold anything), a command/meta group
            # element inside the dataset, a value inconsistent with its VR (.damage), or removed by the
            # profile: nothing known-safe to keep.
            collect(elem, removed, everything=damaged)
            del ds[tag]
            continue
        if elem.VR == "SQ":
            for item in elem.value:
                _clean_dataset(item, options, uid_map, removed)
            continue
        if keyword in ZERO_KEYWORDS and elem.VR not in _DATE_VRS:
            collect(elem, removed)
            elem.value = ""
            continue
        if elem.VR == "UI":
            collect(elem, removed)  # the original UIDs (registered ones are not collected)
            values = elem.value if elem.VM > 1 else [elem.value]
            mapped = [v if not v or _is_registered_uid(v) else uid_map(v) for v in values]
            elem.value = mapped if elem.VM > 1 else mapped[0]
        elif elem.VR in _DATE_VRS:
            _clean_date_element(ds, elem, options)
        elif elem.VR in ("PN", *_FREE_TEXT_VRS):
            collect(elem, removed)
            if elem.VR == "PN":
                elem.value = ""
            else:
                del ds[tag]


def _patient_or_trial_group(elem) -> bool:
    """An attribute of the patient group (0010,xxxx) other than the four the profile empties (name, ID,
    birth date, sex), or of the clinical trial group (0012,xxxx) other than the de-identification
    attributes written again afterwards. These describe the patient or their trial participation and
    Table E.1-1 removes nearly all of them; removed whole, which also catches a patient ID whose damaged
    tag landed on a neighbour that fits its VR and the tag order (Type of Patient ID (0010,0022), Clinical
    Trial Protocol ID (0012,0020) in an implicit VR file)."""
    group = elem.tag.group
    if group == 0x0010:
        return elem.keyword not in ZERO_KEYWORDS
    return group == 0x0012 and elem.keyword not in _REWRITTEN_CLINICAL_TRIAL


_REWRITTEN_CLINICAL_TRIAL = frozenset(
    {"PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence"}
)


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


def imaging_boxes_or_refuse(ds: Dataset, path: Path | str) -> list[tuple[int, int, int, int]]:
    """The 2D imaging boxes of ``ds``; ExportError when there is none (burned-in text would stay)."""
    try:
        boxes = imaging_boxes(ds)
    except Exception as exc:  # damaged Rows/Columns or region values
        raise ExportError(
            f"{path}: the ultrasound regions cannot be read ({type(exc).__name__}: {exc})"
        ) from None
    if not boxes:
        raise ExportError(
            f"{path}: no 2D imaging region in the Sequence of Ultrasound Regions, so burned-in text "
            "cannot be removed safely; this file is not exported"
        )
    return boxes


def deidentify_dataset(
    ds: Dataset, options: DeidOptions, uid_map: UidMap, path: Path | str = "", removed: set[str] | None = None
) -> Dataset:
    """Return a de-identified copy of ``ds`` (pixel data cleaned when it has any); ``removed`` as for
    :func:`deidentify_header`.

    The pixels of a dataset held in memory are cleaned frame by frame (:mod:`.stream`); a file on disk
    is better de-identified with :func:`~fetalviewer.dicom.deid.export.deidentify_files`, which
    streams the frames into the written copy.
    """
    has_pixels = "PixelData" in ds
    clean = has_pixels and options.clean_pixels
    boxes = imaging_boxes_or_refuse(ds, path) if clean else []
    pixels = _clean_pixels_in_memory(ds, boxes, path) if clean else None
    source = ds
    if clean:  # the header only: the pixels were cleaned above
        source = Dataset({tag: elem for tag, elem in ds.items() if tag != 0x7FE00010})
        if hasattr(ds, "file_meta"):
            source.file_meta = ds.file_meta
    try:
        out = deidentify_header(source, options, uid_map, has_pixels=has_pixels, removed=removed)
    except DicomReadError as exc:
        raise DicomReadError(f"{path or 'dataset'}: {exc}") from None
    if pixels is not None:
        from fetalviewer.dicom.deid.stream import set_pixel_attributes

        value, photometric, n_frames, rle = pixels
        multi = n_frames > 1 or "NumberOfFrames" in ds
        set_pixel_attributes(out, photometric, n_frames, multi, rle)
        out.PixelData = value
        out["PixelData"].VR = "OB"
        if out.file_meta.TransferSyntaxUID.is_compressed:
            out["PixelData"].is_undefined_length = True
    return out


def _clean_pixels_in_memory(ds: Dataset, boxes, path: Path | str) -> tuple[bytes, str, int, bool]:
    """Encapsulated RLE (or uncompressed) cleaned frames of an in-memory dataset, decoded one by one
    through the DICOM engine from a temporary copy (its integrity checked like any opened file)."""
    import tempfile

    from fetalviewer.dicom.deid.stream import clean_frames, encapsulated_in_memory
    from fetalviewer.dicom.instance import open_instance

    with tempfile.TemporaryDirectory(prefix="fetalviewer-deid-") as folder:
        copy_path = Path(folder) / "source.dcm"
        try:
            ds.save_as(copy_path, enforce_file_format=False)
        except Exception as exc:
            raise ExportError(f"{path or 'dataset'}: cannot be written for cleaning ({exc})") from None
        with open_instance(copy_path, cache_mb=0) as loop:
            value, photometric, n_frames = encapsulated_in_memory(loop, boxes, path or copy_path)
            rle = value is not None
            if value is None:
                value = b"".join(f.tobytes() for f in clean_frames(loop, boxes, path or copy_path))
    return value, photometric, n_frames, rle


def deidentify_header(
    ds: Dataset, options: DeidOptions, uid_map: UidMap, has_pixels: bool, removed: set[str] | None = None
) -> Dataset:
    """The PS3.15 basic profile on the attributes of ``ds`` (a copy; Pixel Data is left as it is).

    ``has_pixels``: the instance holds an image (its pixels are cleaned by the caller when
    ``options.clean_pixels``), which adds the Clean Pixel Data codes and Type 2C image attributes.
    ``removed`` (a set, filled in): the values taken out of the header, for the read-back check; a
    kept element that still holds one of them is removed too (:mod:`.removed`).
    """
    removed = set() if removed is None else removed
    out = copy.deepcopy(ds)
    original_id = str(ds.get("PatientID", ""))
    _clean_dataset(out, options, uid_map, removed)
    drop_kept_matches(out, removed)
    out.PatientName = "ANONYMOUS^"  # family name only (trailing caret: one component on purpose)
    out.PatientID = uid_map.pseudonym(original_id or str(ds.get("StudyInstanceUID", "")))
    if str(out.get("Modality", "")) == "US" and "Laterality" not in out and has_pixels:
        out.Laterality = ""  # Type 2C of General Series; absent in some vendor files (dciodvfy error)
    if has_pixels and "PatientOrientation" not in out:
        out.PatientOrientation = ""  # Type 2C of General Image
    _repair_code_strings(out)
    _repair_code_sequences(out)
    if has_pixels and options.clean_pixels:
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
    for keyword in ("SOPClassUID", "SOPInstanceUID"):  # gone when damage made the element unusable
        if keyword not in out:
            raise DicomReadError(f"the {keyword} element is damaged, so no de-identified copy can be written")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = out.SOPClassUID
    meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    keep_syntax = "PixelData" in out and "TransferSyntaxUID" in getattr(ds, "file_meta", {})
    meta.TransferSyntaxUID = ds.file_meta.TransferSyntaxUID if keep_syntax else ExplicitVRLittleEndian
    out.file_meta = meta
    return out
