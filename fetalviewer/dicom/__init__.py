"""fetalviewer.dicom: reading ultrasound DICOM (Qt-free, pydicom + numpy only).

Public API::

    from fetalviewer.dicom import open_instance, load_study
    loop = open_instance("cine.dcm")      # CineLoop: header, timing, regions, frame(i)
    study = load_study(["folder/"])       # StudyLoad: .instances, .problems
"""

from fetalviewer.dicom.calibration import (
    Calibration,
    CalibrationResult,
    calibration_for_points,
    single_tissue_region,
)
from fetalviewer.dicom.decoders import warm_up
from fetalviewer.dicom.header import InstanceHeader
from fetalviewer.dicom.instance import CineLoop, open_instance
from fetalviewer.dicom.regions import UltrasoundRegion, parse_regions
from fetalviewer.dicom.study import LoadProblem, StudyLoad, load_study
from fetalviewer.dicom.timing import FrameTiming, resolve_timing
from fetalviewer.errors import DecoderMissing, DicomReadError, FrameDecodeError

__all__ = [
    "Calibration",
    "CalibrationResult",
    "CineLoop",
    "DecoderMissing",
    "DicomReadError",
    "FrameDecodeError",
    "FrameTiming",
    "InstanceHeader",
    "LoadProblem",
    "StudyLoad",
    "UltrasoundRegion",
    "calibration_for_points",
    "load_study",
    "open_instance",
    "parse_regions",
    "resolve_timing",
    "single_tissue_region",
    "warm_up",
]
