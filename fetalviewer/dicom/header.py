"""The identifying and descriptive header of one instance, as plain strings for panels and reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

#: Field name -> DICOM keyword (PS3.3 Patient, General Study, General Series, General Equipment modules).
_KEYWORDS: dict[str, str] = {
    "patient_name": "PatientName",
    "patient_id": "PatientID",
    "patient_birth_date": "PatientBirthDate",
    "patient_sex": "PatientSex",
    "study_date": "StudyDate",
    "study_time": "StudyTime",
    "study_description": "StudyDescription",
    "study_id": "StudyID",
    "accession_number": "AccessionNumber",
    "referring_physician_name": "ReferringPhysicianName",
    "institution_name": "InstitutionName",
    "manufacturer": "Manufacturer",
    "model_name": "ManufacturerModelName",
    "software_versions": "SoftwareVersions",
    "station_name": "StationName",
    "operator_name": "OperatorsName",
    "series_description": "SeriesDescription",
    "series_number": "SeriesNumber",
    "instance_number": "InstanceNumber",
    "content_date": "ContentDate",
    "content_time": "ContentTime",
    "acquisition_datetime": "AcquisitionDateTime",
    "body_part_examined": "BodyPartExamined",
    "burned_in_annotation": "BurnedInAnnotation",
    "lossy_image_compression": "LossyImageCompression",
    "image_comments": "ImageComments",
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


@dataclass(frozen=True)
class InstanceHeader:
    """Header values as text ("" when absent); names as stored (PN with ^ separators)."""

    patient_name: str = ""
    patient_id: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    study_id: str = ""
    accession_number: str = ""
    referring_physician_name: str = ""
    institution_name: str = ""
    manufacturer: str = ""
    model_name: str = ""
    software_versions: str = ""
    station_name: str = ""
    operator_name: str = ""
    series_description: str = ""
    series_number: str = ""
    instance_number: str = ""
    content_date: str = ""
    content_time: str = ""
    acquisition_datetime: str = ""
    body_part_examined: str = ""
    burned_in_annotation: str = ""
    lossy_image_compression: str = ""
    image_comments: str = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            if not isinstance(getattr(self, f.name), str):
                raise TypeError(f"InstanceHeader.{f.name} must be a str")

    @classmethod
    def from_dataset(cls, ds: Any) -> InstanceHeader:
        values = {}
        for name, keyword in _KEYWORDS.items():
            try:
                values[name] = _text(ds.get(keyword))
            except Exception:  # a malformed value must not stop the file from opening
                values[name] = ""
        return cls(**values)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)
