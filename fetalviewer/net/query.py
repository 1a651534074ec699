"""Query: C-FIND in the Study Root model (PS3.4 C.6.2) at STUDY and SERIES level, or QIDO-RS (PS3.18 10.6)
for DICOMweb nodes. Results are plain dicts with snake_case keys, one per study or series."""

from __future__ import annotations

import re
from dataclasses import dataclass

from fetalviewer.errors import NodeError
from fetalviewer.net.audit import audit
from fetalviewer.net.nodes import LocalAE, Node

_DATE = re.compile(r"^(\d{8})?(-(\d{8})?)?$")

#: Study-level return keys (PS3.4 C.6.2.1.2 / PS3.18 Table 10.6.1-5) -> record key.
STUDY_KEYS = {
    "StudyInstanceUID": "study_instance_uid",
    "PatientName": "patient_name",
    "PatientID": "patient_id",
    "PatientBirthDate": "patient_birth_date",
    "StudyDate": "study_date",
    "StudyTime": "study_time",
    "AccessionNumber": "accession_number",
    "StudyDescription": "study_description",
    "ModalitiesInStudy": "modalities_in_study",
    "NumberOfStudyRelatedSeries": "n_series",
    "NumberOfStudyRelatedInstances": "n_instances",
}
SERIES_KEYS = {
    "SeriesInstanceUID": "series_instance_uid",
    "StudyInstanceUID": "study_instance_uid",
    "Modality": "modality",
    "SeriesNumber": "series_number",
    "SeriesDescription": "series_description",
    "NumberOfSeriesRelatedInstances": "n_instances",
}


@dataclass(frozen=True)
class StudyQuery:
    """Study-level matching keys; validated on construction. ``patient_name`` takes ``*``/``?`` wildcards."""

    patient_id: str = ""
    patient_name: str = ""
    study_date: str = ""  # YYYYMMDD or YYYYMMDD-YYYYMMDD (either end open)
    accession_number: str = ""
    modality: str = "US"

    def __post_init__(self) -> None:
        if self.study_date and not _DATE.match(self.study_date):
            raise ValueError(f"study date {self.study_date!r} is not YYYYMMDD or YYYYMMDD-YYYYMMDD")
        for name in ("patient_id", "patient_name", "accession_number", "modality"):
            if "\\" in getattr(self, name):
                raise ValueError(f"{name} must not contain a backslash")


def _record(ds, keys: dict[str, str]) -> dict:
    out = {}
    for keyword, key in keys.items():
        value = ds.get(keyword, None)
        if keyword == "ModalitiesInStudy":
            out[key] = [] if value in (None, "") else ([str(v) for v in value] if not isinstance(value, str)
                                                       else [value])  # fmt: skip
        elif key.startswith("n_"):
            out[key] = int(value) if value not in (None, "") else None
        else:
            out[key] = "" if value is None else str(value)
    return out


def _study_identifier(q: StudyQuery):
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword in STUDY_KEYS:
        setattr(ds, keyword, "")
    ds.PatientID, ds.PatientName, ds.StudyDate = q.patient_id, q.patient_name, q.study_date
    ds.AccessionNumber, ds.ModalitiesInStudy = q.accession_number, q.modality
    return ds


def _c_find(node: Node, local: LocalAE, identifier) -> list:
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND

    from fetalviewer.net.contexts import requested_contexts
    from fetalviewer.net.dimse import associate, status_text

    found = []
    with associate(node, local, requested_contexts([], (FIND,)), dimse_timeout_s=30.0) as assoc:
        for status, ds in assoc.send_c_find(identifier, FIND):
            code = None if status is None else status.get("Status")
            if code in (0xFF00, 0xFF01):
                found.append(ds)
            elif code != 0x0000:
                raise NodeError(f"{node.describe()}: C-FIND failed, status {status_text(status)}")
    return found


def find_studies(node: Node, local: LocalAE, query: StudyQuery) -> list[dict]:
    """One record per matching study (DIMSE when the node has it, else QIDO-RS)."""
    if node.has_dimse:
        records = [_record(ds, STUDY_KEYS) for ds in _c_find(node, local, _study_identifier(query))]
    else:
        records = _qido_studies(node, query)
    audit("query", node.name, outcome="ok", level="STUDY", matches=len(records))
    return records


def find_series(node: Node, local: LocalAE, study_uid: str) -> list[dict]:
    """One record per series of ``study_uid``."""
    if node.has_dimse:
        from pydicom.dataset import Dataset

        ds = Dataset()
        ds.QueryRetrieveLevel = "SERIES"
        for keyword in SERIES_KEYS:
            setattr(ds, keyword, "")
        ds.StudyInstanceUID = study_uid
        records = [_record(r, SERIES_KEYS) for r in _c_find(node, local, ds)]
    else:
        from fetalviewer.net.dicomweb import client, node_errors

        with node_errors(node, "QIDO-RS series search"):
            found = client(node).search_for_series(study_uid, fields=list(SERIES_KEYS))
        records = [_record(_from_json(item), SERIES_KEYS) for item in found]
    audit("query", node.name, study_uid, outcome="ok", level="SERIES", matches=len(records))
    return records


def _from_json(item: dict):
    from pydicom.dataset import Dataset

    return Dataset.from_json(item)


def _qido_studies(node: Node, q: StudyQuery) -> list[dict]:
    from fetalviewer.net.dicomweb import client, node_errors

    filters = {k: v for k, v in (("PatientID", q.patient_id), ("PatientName", q.patient_name),
                                 ("StudyDate", q.study_date), ("AccessionNumber", q.accession_number),
                                 ("ModalitiesInStudy", q.modality)) if v}  # fmt: skip
    with node_errors(node, "QIDO-RS study search"):
        found = client(node).search_for_studies(
            search_filters=filters, fields=list(STUDY_KEYS), fuzzymatching=False
        )
    return [_record(_from_json(item), STUDY_KEYS) for item in found]
