"""fetalviewer.dicom (Qt-free)."""
