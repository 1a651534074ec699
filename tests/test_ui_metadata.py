"""Metadata panel content: names, dates, timing source and region calibration lines."""

from __future__ import annotations

from types import SimpleNamespace

from fetalviewer.dicom.regions import UltrasoundRegion
from fetalviewer.ui.metadata_panel import format_person_name, metadata_sections


def test_person_names():
    assert format_person_name("DOE^JANE^M") == "DOE, JANE M"
    assert format_person_name("OB^^^^") == "OB"
    assert format_person_name(None) == ""


def test_sections_show_timing_source_and_calibration():
    tissue = UltrasoundRegion(index=0, x0=10, y0=20, x1=409, y1=319, spatial_format=1, data_type=1,
                              units_x=3, units_y=3, physical_delta_x=0.02623, physical_delta_y=0.02623)
    doppler = UltrasoundRegion(index=1, x0=10, y0=330, x1=409, y1=469, spatial_format=3, data_type=3,
                               units_x=4, units_y=7, physical_delta_x=0.01, physical_delta_y=0.5)
    header = SimpleNamespace(patient_name="DOE^JANE", patient_id="X1", patient_birth_date="19900102",
                             study_date="20260101", study_time="093105.5", study_description="OB",
                             accession_number="", institution_name="", series_description="Head",
                             manufacturer="ACME", model_name="U1", operator_name="")
    timing = SimpleNamespace(frame_time_ms=33.333, fps=30.0, source="FrameTime", sequencing="sweep",
                             start_trim=2, stop_trim=9)
    loop = SimpleNamespace(header=header, timing=timing, regions=(tissue, doppler), modality="US",
                           series_instance_uid="1.2", sop_instance_uid="1.3", columns=640, rows=480,
                           n_frames=12, photometric="YBR_FULL_422", transfer_syntax_name="JPEG Baseline",
                           transfer_syntax_uid="1.2.840.10008.1.2.4.50")
    sections = dict(metadata_sections(loop))
    patient = dict(sections["Patient"])
    assert patient["Name"] == "DOE, JANE" and patient["Birth date"] == "1990-01-02"
    assert dict(sections["Study"])["Time"] == "09:31:05"
    t = dict(sections["Frame timing"])
    assert t["Source"] == "FrameTime" and t["Playback"] == "sweep" and t["Trim (frames)"] == "2–9"
    assert t["Frame time"] == "33.333 ms"
    regions = dict(sections["Regions / calibration"])
    assert "0.2623 x 0.2623 mm/px" in regions["Region 0"]
    assert "not calibrated" in regions["Region 1"]
