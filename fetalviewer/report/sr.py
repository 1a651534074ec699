"""DICOM Comprehensive SR following TID 5000 (OB-GYN Ultrasound Procedure Report) as far as the data
goes, built with highdicom's content items, and a reader for such reports (ours or a scanner's).

Tree written (PS3.16; codes from pydicom's ``codes``, see shared/clinical/DICOM.md)::

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

import math
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fetalviewer.errors import ExportError
from fetalviewer.report.content import ReportContent

#: Measurement label -> (LOINC code, meaning, section code, section meaning).
LABEL_CODES: dict[str, tuple[str, str, str, str]] = {
    "BPD": ("11820-8", "Biparietal Diameter", "125002", "Fetal Biometry"),
    "HC": ("11984-2", "Head Circumference", "125002", "Fetal Biometry"),
    "AC": ("11979-2", "Abdominal Circumference", "125002", "Fetal Biometry"),
    "OFD": ("11851-3", "Occipital-Frontal Diameter", "125002", "Fetal Biometry"),
    "CRL": ("11957-8", "Crown Rump Length", "125002", "Fetal Biometry"),
    "FL": ("11963-6", "Femur Length", "125003", "Fetal Long Bones"),
    "TCD": ("11863-8", "Transverse Cerebellar Diameter", "125004", "Fetal Cranium"),
}
CODE_TO_LABEL = {code: label for label, (code, *_rest) in LABEL_CODES.items()}
GA_CODE = "18185-9"
EQUATION_CODE = "121420"
ALGORITHM_NAME_CODE = "111001"
ALGORITHM_VERSION_CODE = "111003"
SR_SERIES_NUMBER = 9901


@dataclass(frozen=True)
class SrMeasurement:
    """One measurement read from an OB SR (lengths in mm)."""

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
class ObSrReport:
    path: Path
    sop_instance_uid: str
    study_instance_uid: str
    is_ob_report: bool
    measurements: tuple[SrMeasurement, ...]
    model_ga_days: float | None = None
    model_algorithm: tuple[str, str] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    manufacturer: str = ""
    findings: tuple[str, ...] = ()  # TEXT "Finding" items of the root (e.g. the CHD review prompt)


# -- writing --------------------------------------------------------------------------------------------
def _algorithm(identity: tuple[str, str]):
    import highdicom as hd

    name, version = identity
    return hd.sr.AlgorithmIdentification(name=name, version=version)


def _concept_mod(items) -> list:
    """TID 4019 items re-attached as HAS CONCEPT MOD children of a measurement."""
    for item in items:
        item.RelationshipType = "HAS CONCEPT MOD"
    return list(items)


def _scoord_for(m, image_item):
    import highdicom as hd
    from pydicom.sr.codedict import codes

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
    from pydicom.sr.codedict import codes

    frames = frame_index + 1 if int(getattr(instance, "n_frames", 1)) > 1 else None
    return hd.sr.ImageContentItem(
        name=codes.DCM.SourceOfMeasurement, referenced_sop_class_uid=instance.sop_class_uid,
        referenced_sop_instance_uid=map_uid(instance.sop_instance_uid), referenced_frame_numbers=frames,
        relationship_type=relationship,
    )  # fmt: skip


def _measurement_item(m, instance, content: ReportContent, map_uid):
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.sr.coding import Code

    code, meaning, *_ = LABEL_CODES[m.label]
    item = hd.sr.NumContentItem(
        name=Code(code, "LN", meaning),
        value=float(m.value_mm),
        unit=codes.UCUM.Millimeter,
        relationship_type="CONTAINS",
    )
    children = []
    if instance is not None:
        image = _image_item(instance, m.frame_index, map_uid, "SELECTED FROM")
        children.append(_scoord_for(m, image))
    if m.source in ("automatic", "edited"):
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


def _ga_item(ga_days: float, equation: tuple[str, str] | None):
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.sr.coding import Code

    item = hd.sr.NumContentItem(
        name=Code(GA_CODE, "LN", "Gestational Age"), value=round(float(ga_days), 2), unit=codes.UCUM.Day,
        relationship_type="CONTAINS",
    )  # fmt: skip
    if equation is not None:
        item.ContentSequence = [
            hd.sr.CodeContentItem(
                name=codes.DCM.Equation,
                value=Code(equation[0], "LN", equation[1]),
                relationship_type="INFERRED FROM",
            )
        ]
    return item


def _fetus_context():
    import highdicom as hd
    from pydicom.sr.codedict import codes

    context = hd.sr.SubjectContext(
        subject_class=codes.DCM.Fetus,
        subject_class_specific_context=hd.sr.SubjectContextFetus(subject_id="A"),
    )
    return list(context)


def build_sr_content(content: ReportContent, measurements, instances, map_uid: Callable[[str], str]):
    """The TID 5000 root container for ``measurements`` (``Measurement`` objects) of ``content``."""
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.sr.coding import Code

    from fetalviewer.report.biometry import GA_EQUATION_CODES, ga_for_measurement

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
        if m.label not in LABEL_CODES or m.value_mm is None:
            continue
        groups.setdefault(m.label, []).append(m)
    for label in LABEL_CODES:
        if label not in groups:
            continue
        _, _, sec_code, sec_meaning = LABEL_CODES[label]
        if sec_code not in sections:
            section = hd.sr.ContainerContentItem(
                name=Code(sec_code, "DCM", sec_meaning), relationship_type="CONTAINS"
            )
            section.ContentSequence = _fetus_context()
            sections[sec_code] = section
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
                items.append(_ga_item(ga_days, GA_EQUATION_CODES.get(method)))
        group.ContentSequence = items
        sections[sec_code].ContentSequence.append(group)
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
    from pydicom.sr.codedict import codes

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


def build_sr_dataset(
    content: ReportContent,
    measurements,
    instances,
    evidence,
    map_uid: Callable[[str], str] = lambda uid: uid,
    series_instance_uid: str | None = None,
):
    """A highdicom ``ComprehensiveSR`` of the exam; ``evidence`` are the instances' headers (pydicom
    datasets, already de-identified for a de-identified export)."""

    root = build_sr_content(content, measurements, instances, map_uid)
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


#: Patient and study attributes (Type 2 in the Patient and General Study modules) that highdicom copies
#: from the evidence; a file without them gets them empty rather than failing the export.
_TYPE2_PATIENT_STUDY = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyID", "StudyDate",
                        "StudyTime", "ReferringPhysicianName", "AccessionNumber")


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


def write_sr(sr, target: str | os.PathLike[str]) -> Path:
    """Write the SR dataset atomically."""
    from fetalviewer.dicom.deid import write_dataset_atomic

    try:
        return write_dataset_atomic(sr, target)
    except Exception as exc:
        raise ExportError(f"{target}: the structured report could not be written ({exc})") from exc


# -- reading --------------------------------------------------------------------------------------------
def _code(item, attr: str = "ConceptNameCodeSequence") -> tuple[str, str]:
    seq = item.get(attr)
    if not seq:
        return "", ""
    return str(seq[0].CodeValue), str(seq[0].get("CodeMeaning", ""))


def _num_value(item) -> tuple[float, str] | None:
    seq = item.get("MeasuredValueSequence")
    if not seq:
        return None
    unit = str(seq[0].MeasurementUnitsCodeSequence[0].CodeValue)
    return float(seq[0].NumericValue), unit


def _algorithm_of(item) -> tuple[str, str] | None:
    name = version = None
    for child in item.get("ContentSequence", []):
        code, _ = _code(child)
        if code == ALGORITHM_NAME_CODE:
            name = str(child.TextValue)
        elif code == ALGORITHM_VERSION_CODE:
            version = str(child.TextValue)
    return (name, version or "") if name else None


def _reference(item) -> tuple[str | None, int | None, str | None, tuple[float, ...]]:
    uid = frame = gtype = None
    data: tuple[float, ...] = ()
    for child in item.get("ContentSequence", []):
        if child.ValueType == "SCOORD":
            gtype, data = str(child.GraphicType), tuple(float(v) for v in child.GraphicData)
            uid, frame, _, _ = _reference(child)
        elif child.ValueType == "IMAGE":
            ref = child.ReferencedSOPSequence[0]
            uid = str(ref.ReferencedSOPInstanceUID)
            frames = ref.get("ReferencedFrameNumber")
            frame = (
                int(
                    frames[0]
                    if isinstance(frames, (list, tuple)) or type(frames).__name__ == "MultiValue"
                    else frames
                )
                if frames
                else None
            )
    return uid, frame, gtype, data


def _walk(items, section: str, out: list, state: dict) -> None:
    for item in items:
        value_type = str(item.get("ValueType", ""))
        code, meaning = _code(item)
        if value_type == "CONTAINER":
            name = meaning if code in ("125002", "125003", "125004") else section
            group_out: list = []
            _walk(item.get("ContentSequence", []), name, group_out, state)
            out += group_out
            continue
        if value_type == "TEXT" and code == "121071" and not section:
            state["findings"].append(str(item.get("TextValue", "")))
            continue
        if value_type != "NUM":
            continue
        value = _num_value(item)
        if value is None:
            continue
        number, unit = value
        if code == GA_CODE:
            equation = None
            for child in item.get("ContentSequence", []):
                if _code(child)[0] == EQUATION_CODE and child.get("ConceptCodeSequence"):
                    equation = str(child.ConceptCodeSequence[0].CodeMeaning)
            days = number * 7.0 if unit in ("wk", "weeks") else number
            algorithm = _algorithm_of(item)
            if algorithm is not None and equation is None:
                state["model_ga"], state["model_algorithm"] = days, algorithm
            elif out:  # GA of the group: attach to the group's measurements
                for i, m in enumerate(out):
                    if m.ga_days is None:
                        out[i] = SrMeasurement(**{**vars(m), "ga_days": days, "ga_equation": equation})
            continue
        scale = {"mm": 1.0, "cm": 10.0, "m": 1000.0}.get(unit)
        if scale is None:
            state["notes"].append(f"{meaning}: unit {unit!r} is not a length; skipped")
            continue
        uid, frame, gtype, data = _reference(item)
        comments = [str(c.get("TextValue", "")) for c in item.get("ContentSequence", [])
                    if _code(c)[0] == "121106"]  # fmt: skip
        edited = any("edited" in c for c in comments)
        before = next((float(x.group(1)) for c in comments if (x := _AUTO_VALUE_RE.search(c))), None)
        out.append(
            SrMeasurement(
                CODE_TO_LABEL.get(code),
                code,
                meaning,
                number * scale,
                section,
                uid,
                frame,
                gtype,
                data,
                _algorithm_of(item),
                edited,
                automatic_value_mm=before,
            )  # fmt: skip
        )


def read_ob_sr(path: str | os.PathLike[str]) -> ObSrReport:
    """Measurements (with GA, image references and AI provenance) of an OB-GYN SR; also reads a
    scanner's TID 5000 report built the same way (any NUM length with a LOINC code it knows)."""
    import pydicom

    from fetalviewer.errors import DicomReadError

    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:
        raise DicomReadError(f"{path}: not readable as DICOM ({exc})") from exc
    if ds.get("ValueType") != "CONTAINER" or "ContentSequence" not in ds:
        raise DicomReadError(f"{path}: not a structured report (no root CONTAINER with content)")
    root_code, _ = _code(ds)
    state: dict[str, Any] = {"model_ga": None, "model_algorithm": None, "notes": [], "findings": []}
    found: list[SrMeasurement] = []
    _walk(ds.ContentSequence, "", found, state)
    return ObSrReport(
        path, str(ds.SOPInstanceUID), str(ds.StudyInstanceUID), root_code == "125000", tuple(found),
        state["model_ga"], state["model_algorithm"], tuple(state["notes"]),
        " ".join(str(ds.get(k, "") or "") for k in ("Manufacturer", "ManufacturerModelName")).strip(),
        tuple(state["findings"]),
    )  # fmt: skip


def is_finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
