"""DICOM Comprehensive SR following TID 5000 (OB-GYN Ultrasound Procedure Report) as far as the data
goes: :class:`ObGynSR` builds one with highdicom's content items and reads such reports (ours or a
scanner's).

Tree written (PS3.16 TID 5000; concept codes are pydicom's ``codes`` constants)::

    CONTAINER (125000, DCM, "OB-GYN Ultrasound Procedure Report")        TID 5000
      HAS OBS CONTEXT  observer device (TID 1004): FetalViewer
      CONTAINS CONTAINER (125002 Fetal Biometry | 125003 Fetal Long Bones | 125004 Fetal Cranium)
        HAS OBS CONTEXT  subject class = Fetus, fetus ID                  TID 1008
        CONTAINS CONTAINER (125005, DCM, "Biometry Group")                one per parameter
          CONTAINS NUM <LOINC parameter> mm                               one per caliper
            INFERRED FROM SCOORD (111030 Image Region) POLYLINE | ELLIPSE  (column, row), pixel centre 0.5
              SELECTED FROM IMAGE (121112 Source of Measurement) SOP instance + frame number
            HAS CONCEPT MOD  TID 4019 algorithm identification           automatic / edited values only
            HAS CONCEPT MOD  TEXT (121106 Comment) "edited by the user"  edited values only
          CONTAINS NUM (18185-9, LN, "Gestational Age") d                 from the parameter's value
            INFERRED FROM CODE (121420 Equation) = CID 12013 equation
      CONTAINS NUM (18185-9, LN, "Gestational Age") d                     model GA (AI-derived)
        HAS CONCEPT MOD TID 4019; INFERRED FROM IMAGE of the frame it was read from
      CONTAINS TEXT (121071, DCM, "Finding") CHD review prompt            one per scored heart clip
        HAS CONCEPT MOD TID 4019 (the CHD head)

SCOORD graphic data use the app's image coordinates unchanged (:mod:`fetalviewer.analysis.geometry`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from fetalviewer.errors import ExportError
from fetalviewer.report.content import ReportContent

#: Biometry parameter label -> (LOINC concept of the measurement, TID 5000 section it is reported in).
PARAMETER_CODES: dict[str, tuple[Code, Code]] = {
    "BPD": (codes.LN.BiparietalDiameter, codes.DCM.FetalBiometry),
    "HC": (codes.LN.HeadCircumference, codes.DCM.FetalBiometry),
    "AC": (codes.LN.AbdominalCircumference, codes.DCM.FetalBiometry),
    "OFD": (codes.LN.OccipitalFrontalDiameter, codes.DCM.FetalBiometry),
    "CRL": (codes.LN.CrownRumpLength, codes.DCM.FetalBiometry),
    "FL": (codes.LN.FemurLength, codes.DCM.FetalLongBones),
    "TCD": (codes.LN.TransverseCerebellarDiameter, codes.DCM.FetalCranium),
}
_LABEL_OF: dict[Code, str] = {concept: label for label, (concept, _) in PARAMETER_CODES.items()}
#: The TID 5000 section containers the reader recognises (PS3.16 TID 5005-5008).
SECTIONS = (codes.DCM.FetalBiometry, codes.DCM.FetalLongBones, codes.DCM.FetalCranium)

#: CID 12013 "Gestational Age Equations and Tables": the code of each dating method the app uses.
GA_EQUATIONS: dict[str, Code] = {
    "Hadlock 1984 (BPD)": codes.LN.BPDHadlock1984,
    "Hadlock 1984 (HC)": codes.LN.HCHadlock1984,
    "Hadlock 1984 (AC)": codes.LN.ACHadlock1984,
    "Hadlock 1984 (FL)": codes.LN.FLHadlock1984,
    "Hadlock 1992 (CRL)": codes.LN.CRLHadlock1992,
    "Robinson 1975 (CRL)": codes.LN.CRLRobinson1975,
}
SR_SERIES_NUMBER = 9901


@dataclass(frozen=True)
class SrMeasurement:
    """One length measurement read from an OB SR (in mm), with what it refers to.

    ``frame_number`` is the DICOM Referenced Frame Number (1-based), as written in the file."""

    label: str | None
    code: str
    meaning: str
    value_mm: float
    section: str
    sop_instance_uid: str | None = None
    frame_number: int | None = None
    graphic_type: str | None = None
    graphic_data: tuple[float, ...] = ()
    algorithm: tuple[str, str] | None = None
    edited: bool = False
    ga_days: float | None = None
    ga_equation: str | None = None
    automatic_value_mm: float | None = None  # an edited measurement's value before the edit


@dataclass(frozen=True)
class ObGynSR:
    """An OB-GYN Ultrasound Procedure Report (PS3.16 TID 5000): what the app reads from one, and how it
    writes one.

    :meth:`build` makes the Comprehensive SR dataset of an exam; :meth:`write` stores it; :meth:`from_dataset`
    and :meth:`from_file` read ours or a scanner's report built the same way (any NUM length with a LOINC
    code, in mm, cm or m)."""

    sop_instance_uid: str
    study_instance_uid: str
    is_ob_report: bool
    measurements: tuple[SrMeasurement, ...]
    model_ga_days: float | None = None
    model_algorithm: tuple[str, str] | None = None
    notes: tuple[str, ...] = ()
    manufacturer: str = ""
    findings: tuple[str, ...] = ()  # TEXT "Finding" items of the root (e.g. the CHD review prompt)
    path: Path | None = None

    @property
    def name(self) -> str:
        """The file name when read from a file, else the SOP Instance UID."""
        return self.path.name if self.path is not None else self.sop_instance_uid

    # -- writing --
    @staticmethod
    def build(
        content: ReportContent,
        measurements,
        instances,
        evidence,
        map_uid: Callable[[str], str] = lambda uid: uid,
        series_instance_uid: str | None = None,
    ):
        """A highdicom ``ComprehensiveSR`` of the exam; ``evidence`` are the instances' headers (pydicom
        datasets, already de-identified for a de-identified export), ``map_uid`` maps the instances' UIDs
        to those of the evidence."""
        root = _content_tree(content, measurements, instances, map_uid)
        institution = None if content.header.deidentified else (content.header.value("Institution") or None)
        if institution and institution.startswith("not available"):
            institution = None
        with warnings.catch_warnings():
            # Vendor files often carry one-component patient names ("PLA"); that is their data, not ours.
            warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
            sr = _comprehensive_sr(content, root, evidence, institution, series_instance_uid)
        sr.SeriesDescription = "FetalViewer OB-GYN report (decision support)"
        if content.header.deidentified:
            sr.PatientIdentityRemoved = "YES"
            sr.DeidentificationMethod = "FetalViewer PS3.15 Basic Profile"
        return sr

    @staticmethod
    def write(dataset, target: str | os.PathLike[str]) -> Path:
        """Write an SR dataset made by :meth:`build` atomically; raises ``ExportError``."""
        from fetalviewer.dicom.deid import write_dataset_atomic

        try:
            return write_dataset_atomic(dataset, target)
        except Exception as exc:
            raise ExportError(f"{target}: the structured report could not be written ({exc})") from exc

    # -- reading --
    @classmethod
    def from_dataset(cls, ds, path: str | os.PathLike[str] | None = None) -> ObGynSR:
        """The report in ``ds``; raises ``DicomReadError`` when ``ds`` is not a structured report."""
        from fetalviewer.errors import DicomReadError

        where = str(path) if path is not None else "dataset"
        try:
            return cls._read(ds, path)
        except DicomReadError:
            raise
        except Exception as exc:  # a damaged tree: a missing code, an unreadable value, ...
            raise DicomReadError(
                f"{where}: damaged structured report ({type(exc).__name__}: {str(exc)[:200]})"
            ) from None

    @classmethod
    def _read(cls, ds, path: str | os.PathLike[str] | None) -> ObGynSR:
        from fetalviewer.errors import DicomReadError

        where = str(path) if path is not None else "dataset"
        if ds.get("ValueType") != "CONTAINER" or "ContentSequence" not in ds:
            raise DicomReadError(f"{where}: not a structured report (no root CONTAINER with content)")
        reader = _Reader()
        measurements = reader.read(ds.ContentSequence)
        manufacturer = " ".join(str(ds.get(k, "") or "") for k in ("Manufacturer", "ManufacturerModelName"))
        return cls(
            sop_instance_uid=str(ds.SOPInstanceUID), study_instance_uid=str(ds.StudyInstanceUID),
            is_ob_report=_concept(ds) == codes.DCM.OBGYNUltrasoundProcedureReport,
            measurements=tuple(measurements), model_ga_days=reader.model_ga_days,
            model_algorithm=reader.model_algorithm, notes=tuple(reader.notes), manufacturer=manufacturer.strip(),
            findings=tuple(reader.findings), path=Path(path) if path is not None else None,
        )  # fmt: skip

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ObGynSR:
        """The report in the file ``path``; raises ``DicomReadError`` naming the file when it is not one."""
        import pydicom

        from fetalviewer.dicom.integrity import drop_damaged_elements
        from fetalviewer.errors import DicomReadError

        path = Path(path)
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)  # a report has no pixels: never read them
            drop_damaged_elements(ds)
        except Exception as exc:
            raise DicomReadError(f"{path}: not readable as DICOM ({type(exc).__name__}: {exc})") from None
        return cls.from_dataset(ds, path)


# -- writing --------------------------------------------------------------------------------------------
def _algorithm(identity: tuple[str, ...]):
    """TID 4019 from (name, version[, parameter, ...]); the model's parameters carry the weights sha256."""
    import highdicom as hd

    name, version, *parameters = identity
    return hd.sr.AlgorithmIdentification(name=name, version=version, parameters=list(parameters) or None)


def _concept_mod(items) -> list:
    """TID 4019 items re-attached as HAS CONCEPT MOD children of a measurement."""
    for item in items:
        item.RelationshipType = "HAS CONCEPT MOD"
    return list(items)


def _scoord_for(m, image_item):
    import highdicom as hd

    from fetalviewer.analysis.geometry import Ellipse, points_to_scoord

    if m.kind == "distance":
        graphic_type, points = hd.sr.GraphicTypeValues.POLYLINE, m.points_px
    else:
        ellipse = Ellipse(m.center_px, m.semi_axes_px, m.angle_deg)
        major, minor = ellipse.axis_endpoints()
        graphic_type, points = hd.sr.GraphicTypeValues.ELLIPSE, (*major, *minor)
    data = np.array(points_to_scoord(points), dtype=np.float64).reshape(-1, 2)
    item = hd.sr.ScoordContentItem(
        name=codes.DCM.ImageRegion, graphic_type=graphic_type, graphic_data=data,
        pixel_origin_interpretation="FRAME", relationship_type="INFERRED FROM",
    )  # fmt: skip
    item.ContentSequence = [image_item]
    return item


def _image_item(instance, frame_index: int, map_uid: Callable[[str], str], relationship: str):
    import highdicom as hd

    frames = frame_index + 1 if int(getattr(instance, "n_frames", 1)) > 1 else None
    return hd.sr.ImageContentItem(
        name=codes.DCM.SourceOfMeasurement, referenced_sop_class_uid=instance.sop_class_uid,
        referenced_sop_instance_uid=map_uid(instance.sop_instance_uid), referenced_frame_numbers=frames,
        relationship_type=relationship,
    )  # fmt: skip


def _measurement_item(m, instance, content: ReportContent, map_uid):
    import highdicom as hd

    item = hd.sr.NumContentItem(
        name=PARAMETER_CODES[m.label][0],
        value=float(m.value_mm),
        unit=codes.UCUM.Millimeter,
        relationship_type="CONTAINS",
    )
    children = []
    if instance is not None:
        image = _image_item(instance, m.frame_index, map_uid, "SELECTED FROM")
        children.append(_scoord_for(m, image))
    if m.source.from_algorithm:
        children += _concept_mod(
            _algorithm(content.biometry_algorithm or ("FetalViewer automatic biometry", content.app_version))
        )
    if m.source == "edited":
        children.append(
            hd.sr.TextContentItem(
                name=codes.DCM.Comment, value=edited_comment(m), relationship_type="HAS CONCEPT MOD",
            )
        )  # fmt: skip
    if children:
        item.ContentSequence = children
    return item


EDITED_COMMENT = "edited by the user from an automatic measurement"
_AUTO_VALUE_RE = re.compile(r"automatic value ([0-9]+(?:\.[0-9]+)?) mm")


def edited_comment(m) -> str:
    """The comment of an edited measurement, with the automatic (pre-edit) value when it was in mm.

    The pre-edit value is kept as text in the same TEXT item (no extra NUM item: a second numeric
    value of the same concept in a biometry group would read as a second measurement)."""
    before = (m.automatic_values or {}).get("value_mm")
    if isinstance(before, (int, float)) and not isinstance(before, bool) and math.isfinite(before):
        return f"{EDITED_COMMENT}; automatic value {float(before):.2f} mm"
    return EDITED_COMMENT


def _ga_item(ga_days: float, equation: Code | None):
    import highdicom as hd

    item = hd.sr.NumContentItem(
        name=codes.LN.GestationalAge, value=round(float(ga_days), 2), unit=codes.UCUM.Day,
        relationship_type="CONTAINS",
    )  # fmt: skip
    if equation is not None:
        item.ContentSequence = [
            hd.sr.CodeContentItem(
                name=codes.DCM.Equation,
                value=equation,
                relationship_type="INFERRED FROM",
            )
        ]
    return item


def _fetus_context():
    import highdicom as hd

    context = hd.sr.SubjectContext(
        subject_class=codes.DCM.Fetus,
        subject_class_specific_context=hd.sr.SubjectContextFetus(subject_id="A"),
    )
    return list(context)


def _content_tree(content: ReportContent, measurements, instances, map_uid: Callable[[str], str]):
    """The TID 5000 root container for ``measurements`` (``Measurement`` objects) of ``content``."""
    import highdicom as hd

    from fetalviewer.report.biometry import ga_for_measurement

    by_uid = {inst.sop_instance_uid: inst for inst in instances}
    root = hd.sr.ContainerContentItem(name=codes.DCM.OBGYNUltrasoundProcedureReport, template_id="5000")
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="FetalViewer", model_name=f"FetalViewer {content.app_version}"
        ),
    )
    children = list(hd.sr.ObservationContext(observer_device_context=observer))
    sections: dict[str, Any] = {}
    groups: dict[str, list] = {}
    for m in measurements:
        if m.label not in PARAMETER_CODES or m.value_mm is None:
            continue
        groups.setdefault(m.label, []).append(m)
    for label, (_, section_code) in PARAMETER_CODES.items():
        if label not in groups:
            continue
        if section_code not in sections:
            section = hd.sr.ContainerContentItem(name=section_code, relationship_type="CONTAINS")
            section.ContentSequence = _fetus_context()
            sections[section_code] = section
        group = hd.sr.ContainerContentItem(name=codes.DCM.BiometryGroup, relationship_type="CONTAINS")
        items = [
            _measurement_item(m, by_uid.get(m.sop_instance_uid), content, map_uid) for m in groups[label]
        ]
        row = next((p for p in content.parameters if p.label == label), None)
        if row is not None:
            ga = ga_for_measurement(groups[label][0]) if len(groups[label]) == 1 else None
            ga_days, method = (ga.ga_days, ga.method) if ga is not None else (None, "")
            if ga is None:  # several calipers: the GA of the parameter's mean value
                from fetalviewer.analysis.measurement_table import MeasurementTable

                estimate = MeasurementTable(groups[label]).rows[label].ga
                if estimate and estimate[0].value is not None:
                    ga_days, method = estimate[0].value, estimate[0].method
            if ga_days is not None:
                items.append(_ga_item(ga_days, GA_EQUATIONS.get(method)))
        group.ContentSequence = items
        sections[section_code].ContentSequence.append(group)
    children += list(sections.values())
    model = _model_ga_item(content, instances, map_uid)
    if model is not None:
        children.append(model)
    children += _chd_findings(content)
    root.ContentSequence = children
    return root


def _chd_findings(content: ReportContent) -> list:
    """One TEXT Finding per scored heart clip (the CHD review prompt, a model output), none otherwise."""
    import highdicom as hd

    from fetalviewer.report.content import is_not_available

    items = []
    for flag in content.chd_flags:
        if is_not_available(flag):
            continue
        item = hd.sr.TextContentItem(name=codes.DCM.Finding, value=flag, relationship_type="CONTAINS")
        item.ContentSequence = _concept_mod(_algorithm(("FetalViewer CHD review (FetalCLIP CHD head)",
                                                        content.app_version)))  # fmt: skip
        items.append(item)
    return items


def _model_ga_item(content: ReportContent, instances, map_uid):
    """The model's GA with TID 4019 provenance and the frame it came from, when the model ran."""
    if content.algorithm is None:
        return None
    best = None
    for p in content.predictions:
        if p.ga_days is not None and (
            best is None or p.plane_probs.get("brain", 0) > best.plane_probs.get("brain", 0)
        ):
            best = p
    if best is None:
        return None
    item = _ga_item(best.ga_days, None)
    children = _concept_mod(_algorithm(content.algorithm))
    inst = next((i for i in instances if i.sop_instance_uid == best.sop_instance_uid), None)
    if inst is not None:
        children.append(_image_item(inst, best.frame_index, map_uid, "INFERRED FROM"))
    item.ContentSequence = children
    return item


#: Patient and study attributes (Type 2 in the Patient and General Study modules) that highdicom copies
#: from the evidence; a file without them gets them empty rather than failing the export.
_TYPE2_PATIENT_STUDY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "AccessionNumber",
)


def _with_type2_attributes(ds):
    """``ds`` itself when it has every attribute of ``_TYPE2_PATIENT_STUDY``, else a copy with them empty."""
    missing = [keyword for keyword in _TYPE2_PATIENT_STUDY if keyword not in ds]
    if not missing:
        return ds
    import copy

    ds = copy.deepcopy(ds)
    for keyword in missing:
        setattr(ds, keyword, "")
    return ds


def _comprehensive_sr(content, root, evidence, institution, series_instance_uid):
    import highdicom as hd

    evidence = [_with_type2_attributes(ds) for ds in evidence]

    # A signed exam record gives a final, verified document naming the signer; a de-identified export
    # drops the signer (Verifying Observer Name is Z in PS3.15 Table E.1-1) and stays unverified.
    verified = content.signed_by is not None and not content.header.deidentified
    signer = None
    if verified:
        from pydicom.valuerep import PersonName

        signer = PersonName.from_named_components(family_name=content.signed_by)
    return hd.sr.ComprehensiveSR(
        evidence=list(evidence), content=root, series_instance_uid=series_instance_uid or hd.UID(),
        series_number=SR_SERIES_NUMBER, sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="FetalViewer", institution_name=institution, is_complete=verified,
        is_final=verified, is_verified=verified, verifying_observer_name=signer,
        verifying_organization=(institution or "not recorded") if verified else None,
    )  # fmt: skip


# -- reading --------------------------------------------------------------------------------------------
def _concept(item, attr: str = "ConceptNameCodeSequence") -> Code | None:
    seq = item.get(attr)
    if not seq:
        return None
    code = seq[0]
    return Code(str(code.CodeValue), str(code.CodingSchemeDesignator), str(code.get("CodeMeaning", "")))


def _num_value(item) -> tuple[float, str] | None:
    seq = item.get("MeasuredValueSequence")
    if not seq:
        return None
    unit = str(seq[0].MeasurementUnitsCodeSequence[0].CodeValue)
    return float(seq[0].NumericValue), unit


def _algorithm_of(item) -> tuple[str, str] | None:
    """(name, version) of the TID 4019 items under ``item``, if any."""
    name = version = None
    for child in item.get("ContentSequence", []):
        concept = _concept(child)
        if concept == codes.DCM.AlgorithmName:
            name = str(child.TextValue)
        elif concept == codes.DCM.AlgorithmVersion:
            version = str(child.TextValue)
    return (name, version or "") if name else None


def _first_frame(frames) -> int | None:
    if frames is None or frames == "":
        return None
    if isinstance(frames, (list, tuple)) or type(frames).__name__ == "MultiValue":
        return int(frames[0]) if len(frames) else None
    return int(frames)


def _reference(item) -> tuple[str | None, int | None, str | None, tuple[float, ...]]:
    """(SOP instance UID, 1-based frame number, graphic type, graphic data) a measurement refers to."""
    uid = frame = gtype = None
    data: tuple[float, ...] = ()
    for child in item.get("ContentSequence", []):
        if child.ValueType == "SCOORD":
            gtype, data = str(child.GraphicType), tuple(float(v) for v in child.GraphicData)
            uid, frame, _, _ = _reference(child)
        elif child.ValueType == "IMAGE":
            ref = child.ReferencedSOPSequence[0]
            uid = str(ref.ReferencedSOPInstanceUID)
            frame = _first_frame(ref.get("ReferencedFrameNumber"))
    return uid, frame, gtype, data


class _Reader:
    """One pass over an SR content tree, collecting what :class:`ObGynSR` holds."""

    def __init__(self) -> None:
        self.measurements: list[SrMeasurement] = []
        self.model_ga_days: float | None = None
        self.model_algorithm: tuple[str, str] | None = None
        self.notes: list[str] = []
        self.findings: list[str] = []

    def read(self, items, section: str = "") -> list[SrMeasurement]:
        """The length measurements among ``items`` (recursively), GA of their group attached."""
        found: list[SrMeasurement] = []
        for item in items:
            value_type = str(item.get("ValueType", ""))
            concept = _concept(item)
            if value_type == "CONTAINER":
                name = concept.meaning if concept in SECTIONS else section
                found += self.read(item.get("ContentSequence", []), name)
            elif value_type == "TEXT" and concept == codes.DCM.Finding and not section:
                self.findings.append(str(item.get("TextValue", "")))
            elif value_type == "NUM" and concept == codes.LN.GestationalAge:
                self._gestational_age(item, found)
            elif value_type == "NUM":
                measurement = self._length(item, concept, section)
                if measurement is not None:
                    found.append(measurement)
        return found

    def _gestational_age(self, item, group: list[SrMeasurement]) -> None:
        value = _num_value(item)
        if value is None:
            return
        number, unit = value
        days = number * 7.0 if unit in ("wk", "weeks") else number
        equation = None
        for child in item.get("ContentSequence", []):
            if _concept(child) == codes.DCM.Equation and child.get("ConceptCodeSequence"):
                equation = str(child.ConceptCodeSequence[0].CodeMeaning)
        algorithm = _algorithm_of(item)
        if algorithm is not None and equation is None:  # the model's GA (AI provenance, no equation)
            self.model_ga_days, self.model_algorithm = days, algorithm
            return
        for i, m in enumerate(group):  # the GA of a biometry group belongs to its measurements
            if m.ga_days is None:
                group[i] = dataclasses.replace(m, ga_days=days, ga_equation=equation)

    def _length(self, item, concept: Code | None, section: str) -> SrMeasurement | None:
        value = _num_value(item)
        if value is None or concept is None:
            return None
        number, unit = value
        scale = _MM_PER_UNIT.get(unit)
        if scale is None:
            self.notes.append(f"{concept.meaning}: unit {unit!r} is not a length; skipped")
            return None
        uid, frame, gtype, data = _reference(item)
        comments = [str(c.get("TextValue", "")) for c in item.get("ContentSequence", [])
                    if _concept(c) == codes.DCM.Comment]  # fmt: skip
        before = next((float(x.group(1)) for c in comments if (x := _AUTO_VALUE_RE.search(c))), None)
        return SrMeasurement(
            label=_LABEL_OF.get(concept), code=concept.value, meaning=concept.meaning, value_mm=number * scale,
            section=section, sop_instance_uid=uid, frame_number=frame, graphic_type=gtype, graphic_data=data,
            algorithm=_algorithm_of(item), edited=any("edited" in c for c in comments), automatic_value_mm=before,
        )  # fmt: skip


_MM_PER_UNIT = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
