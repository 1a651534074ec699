"""Secondary Capture images (highdicom ``SCImage``) of the report's key frames with overlays burnt in:
same study, one new series, each image referencing the frame it was made from (SourceImageSequence).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from fetalviewer.report.content import ReportContent
from fetalviewer.report.overlay import render_key_frame

SC_SERIES_NUMBER = 9902
SC_SERIES_DESCRIPTION = "FetalViewer key frames with measurements (decision support)"


def _source_reference(instance: Any, frame_index: int, map_uid: Callable[[str], str]) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID = instance.sop_class_uid
    ref.ReferencedSOPInstanceUID = map_uid(instance.sop_instance_uid)
    if int(getattr(instance, "n_frames", 1)) > 1:
        ref.ReferencedFrameNumber = frame_index + 1
    return ref


def _sc_image(ref: Dataset, rgb, series_uid: str, number: int):
    import highdicom as hd

    return hd.sc.SCImage.from_ref_dataset(
        ref_dataset=ref, pixel_array=rgb, photometric_interpretation="RGB", bits_allocated=8,
        coordinate_system="PATIENT", series_instance_uid=series_uid, series_number=SC_SERIES_NUMBER,
        sop_instance_uid=hd.UID(), instance_number=number, manufacturer="FetalViewer",
        patient_orientation=("L", "F"), transfer_syntax_uid="1.2.840.10008.1.2.1",
    )  # fmt: skip


def build_secondary_captures(
    content: ReportContent,
    ref_datasets: Mapping[str, Dataset],
    map_uid: Callable[[str], str] = lambda uid: uid,
    clean: bool | None = None,
    series_instance_uid: str | None = None,
) -> list[Dataset]:
    """One SC image per key frame. ``ref_datasets`` maps the original SOPInstanceUID to the header the
    SC copies patient/study attributes from (a de-identified header for a de-identified export)."""
    import highdicom as hd

    clean = content.header.deidentified if clean is None else clean
    series_uid = series_instance_uid or hd.UID()
    images = []
    for number, kf in enumerate(content.key_frames, start=1):
        rgb = render_key_frame(kf, clean=clean)
        ref = ref_datasets[kf.sop_instance_uid]
        with warnings.catch_warnings():
            # Vendor files often carry one-component patient names ("PLA"); that is their data.
            warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person name")
            sc = _sc_image(ref, rgb, series_uid, number)
        # highdicom insists on an orientation for PATIENT coordinates; an ultrasound frame has none we
        # know, and Patient Orientation is Type 2 in the General Image module: leave it empty.
        sc.PatientOrientation = ""
        sc.Laterality = ""  # Type 2C of General Series (dciodvfy asks for it)
        sc.SeriesDescription = SC_SERIES_DESCRIPTION
        sc.ImageType = ["DERIVED", "SECONDARY"]
        sc.DerivationDescription = (
            "Key frame with FetalViewer overlays (plane label, contours, calipers) burnt in"
        )
        sc.BurnedInAnnotation = "NO" if clean else "YES"
        sc.SourceImageSequence = Sequence([_source_reference(kf.instance, kf.frame_index, map_uid)])
        if content.header.deidentified:
            sc.PatientIdentityRemoved = "YES"
            sc.DeidentificationMethod = "FetalViewer PS3.15 Basic Profile, Clean Pixel Data"
        images.append(sc)
    return images
