"""FetalViewer: offline review of fetal ultrasound DICOM with FetalCLIP decision support."""

__version__ = "0.1.0"
