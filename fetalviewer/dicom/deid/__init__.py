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

Damaged input: elements whose tag order, VR or characters show damage are dropped (:mod:`.damage`),
and every identifying value the profile takes out is also taken out of whatever the copy keeps
(:mod:`.removed`). After an export every written file is read back and the export fails, deleting what
it wrote, if an original identifier string or a removed value is still present
(:func:`find_identifier_leaks`).
"""

from __future__ import annotations

from fetalviewer.dicom.deid.export import DeidExported, ExportStaging, deidentify_files, write_dataset_atomic
from fetalviewer.dicom.deid.leaks import find_identifier_leaks, find_text_leaks, identifier_strings
from fetalviewer.dicom.deid.pixels import blackout_outside, imaging_boxes
from fetalviewer.dicom.deid.profile import (
    CODE_BASIC_PROFILE,
    CODE_CLEAN_PIXELS,
    CODE_MODIFIED_DATES,
    REMOVE_KEYWORDS,
    ZERO_KEYWORDS,
    DeidOptions,
    UidMap,
    deidentify_dataset,
    deidentify_header,
)

__all__ = [
    "CODE_BASIC_PROFILE", "CODE_CLEAN_PIXELS", "CODE_MODIFIED_DATES", "REMOVE_KEYWORDS", "ZERO_KEYWORDS",
    "DeidExported", "DeidOptions", "ExportStaging", "UidMap", "blackout_outside",
    "deidentify_dataset", "deidentify_header", "deidentify_files", "find_identifier_leaks", "find_text_leaks", "identifier_strings",
    "imaging_boxes", "write_dataset_atomic",
]  # fmt: skip
