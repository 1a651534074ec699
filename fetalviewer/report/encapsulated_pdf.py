"""Encapsulated PDF Storage (PS3.3 A.45.1): the exam report PDF as a DICOM instance of the study, so it
can be sent to a PACS beside the SR. Modules: Patient (C.7.1.1), General Study (C.7.2.1), Encapsulated
Document Series (C.24.1), General Equipment (C.7.5.1), SC Equipment (C.8.6.1), Encapsulated Document
(C.24.2), SOP Common (C.12.1). :func:`read_encapsulated_pdf` is the reader."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fetalviewer.atomic import atomic_path
from fetalviewer.errors import DicomReadError, ExportError

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
_PATIENT_STUDY = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
    "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber", "StudyDescription",
    "PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence",
)  # fmt: skip


def write_encapsulated_pdf(pdf_path: str | os.PathLike[str], reference, out_path: str | os.PathLike[str],
                           title: str = "Fetal ultrasound report", series_number: int = 901,
                           manufacturer: str = "FetalViewer") -> Path:  # fmt: skip
    """Wrap the PDF at ``pdf_path`` into an Encapsulated PDF instance of ``reference``'s study (a pydicom
    dataset of any instance of the study: patient and study attributes are copied) at ``out_path``."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from fetalviewer import __version__

    pdf = Path(pdf_path).read_bytes()
    if not pdf.startswith(b"%PDF"):
        raise ExportError(f"{pdf_path}: not a PDF file")
    now = datetime.now()
    ds = Dataset()
    for keyword in _PATIENT_STUDY:
        if keyword in reference:
            ds[keyword] = reference[keyword]
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                    "ReferringPhysicianName", "StudyID", "AccessionNumber"):  # fmt: skip
        if keyword not in ds:
            setattr(ds, keyword, "")  # type 2: present, may be empty
    if "StudyInstanceUID" not in ds:
        raise ExportError("the reference instance has no StudyInstanceUID")
    ds.SOPClassUID = ENCAPSULATED_PDF_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = series_number
    ds.Manufacturer = manufacturer
    ds.SoftwareVersions = __version__
    ds.ConversionType = "WSD"  # workstation (C.8.6.1)
    ds.InstanceNumber = 1
    ds.ContentDate, ds.ContentTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    # the PDF names the patient unless the export was de-identified
    ds.BurnedInAnnotation = "NO" if ds.get("PatientIdentityRemoved") == "YES" else "YES"
    ds.DocumentTitle = title[:64]
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = pdf + (b"\x00" if len(pdf) % 2 else b"")
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.SpecificCharacterSet = reference.get("SpecificCharacterSet", "ISO_IR 192") or "ISO_IR 192"
    ds.InstanceCreationDate, ds.InstanceCreationTime = ds.ContentDate, ds.ContentTime
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    try:
        with atomic_path(out_path) as tmp:
            ds.save_as(tmp, enforce_file_format=True)
    except OSError as exc:
        raise ExportError(f"{out_path}: cannot write the Encapsulated PDF ({exc})") from exc
    return Path(out_path)


@dataclass(frozen=True)
class EncapsulatedPdf:
    path: Path
    study_instance_uid: str
    sop_instance_uid: str
    title: str
    pdf: bytes


def read_encapsulated_pdf(path: str | os.PathLike[str]) -> EncapsulatedPdf:
    """Read an Encapsulated PDF instance back; the PDF bytes are trimmed to EncapsulatedDocumentLength."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError) as exc:
        raise DicomReadError(f"{path}: not readable as DICOM ({exc})") from exc
    if ds.get("SOPClassUID") != ENCAPSULATED_PDF_STORAGE or "EncapsulatedDocument" not in ds:
        raise DicomReadError(f"{path}: not an Encapsulated PDF instance")
    data = bytes(ds.EncapsulatedDocument)
    length = ds.get("EncapsulatedDocumentLength")
    if length is not None:
        data = data[: int(length)]
    return EncapsulatedPdf(Path(path), str(ds.StudyInstanceUID), str(ds.SOPInstanceUID),
                           str(ds.get("DocumentTitle", "")), data)  # fmt: skip


def dicom_outbox(files, reference=None) -> list[Path]:
    """The exported files to send to a PACS: every DICOM file as is, and every PDF wrapped as an
    Encapsulated PDF beside it (``<name>.pdf.dcm``). Patient and study attributes of the wrapper come from
    the first exported DICOM file (de-identified when the export was), else from ``reference``; a PDF
    with neither is left out with no wrapper (``ExportError``)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    dicom, pdfs = [], []
    for path in map(Path, files):
        if path.suffix.lower() == ".pdf":
            pdfs.append(path)
            continue
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, EOFError):
            continue
        dicom.append((path, header))
    ref = dicom[0][1] if dicom else reference
    out = [p for p, _ in dicom]
    for pdf in pdfs:
        if ref is None:
            raise ExportError(f"{pdf}: no DICOM instance of the study to take patient and study attributes from")
        out.append(write_encapsulated_pdf(pdf, ref, pdf.with_name(pdf.name + ".dcm")))
    return out
