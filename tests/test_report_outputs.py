"""Secondary capture, annotated cine video, frame PNG and CSV/JSON tables: written, read back, checked."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from test_report_content import sample_exam

from fetalviewer.analysis.measurement import make_distance
from fetalviewer.dicom import open_instance
from fetalviewer.dicom.deid import DeidOptions, UidMap, deidentify_dataset, write_dataset_atomic
from fetalviewer.exam.record import ExamRecord
from fetalviewer.report.build import build_report_content
from fetalviewer.report.capture import build_secondary_captures
from fetalviewer.report.content import FrameOverlay
from fetalviewer.report.tables import (
    read_report_json,
    read_table_csv,
    write_measurements_csv,
    write_predictions_csv,
    write_report_json,
)
from fetalviewer.report.video import (
    playback_schedule,
    read_video_info,
    write_annotated_video,
    write_frame_png,
)


def _dciodvfy_errors(path):
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy not installed")
    proc = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("Error")]


@pytest.mark.parametrize("deidentified", [False, True])
def test_secondary_capture(tmp_path, deidentified):
    loop, record, predictions, info = sample_exam()
    content = build_report_content([loop], record, predictions, model_info=info, deidentified=deidentified)
    uid_map = UidMap()
    ref = deidentify_dataset(loop.dataset(), DeidOptions(), uid_map) if deidentified else loop.dataset()
    (sc,) = build_secondary_captures(content, {loop.sop_instance_uid: ref}, uid_map if deidentified else str)
    path = write_dataset_atomic(sc, tmp_path / "sc.dcm")
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7" and ds.PhotometricInterpretation == "RGB"
    assert ds.SeriesInstanceUID != loop.series_instance_uid
    expected_study = uid_map(loop.study_instance_uid) if deidentified else loop.study_instance_uid
    assert ds.StudyInstanceUID == expected_study
    ref_uid = ds.SourceImageSequence[0].ReferencedSOPInstanceUID
    assert ref_uid == (uid_map(loop.sop_instance_uid) if deidentified else loop.sop_instance_uid)
    pixels = ds.pixel_array
    assert pixels.shape == (600, 800, 3)
    assert not np.array_equal(pixels, loop.frame(0))  # overlays are burnt in
    if deidentified:
        assert (
            ds.BurnedInAnnotation == "NO"
            and pixels[:60, 300:].max() == 0
            and ds.PatientIdentityRemoved == "YES"
        )
        assert b"11-05-25-142825" not in path.read_bytes()
    else:
        assert ds.BurnedInAnnotation == "YES"
    assert _dciodvfy_errors(path) == []


def test_annotated_video_keeps_timing(tmp_path):
    loop = open_instance(get_testdata_file("color3d_jpeg_baseline.dcm"))
    overlays = {10: FrameOverlay("Heart (model 0.80)")}
    info = write_annotated_video(loop, tmp_path / "cine.mp4", overlays, clean=True)
    assert (info.n_frames, info.width, info.height) == (120, 640, 480)
    back = read_video_info(tmp_path / "cine.mp4")
    assert back.n_frames == 120 and back.fps == pytest.approx(1000 / 33.333, abs=0.05)
    assert [p.name for p in tmp_path.iterdir()] == ["cine.mp4"]
    import cv2

    cap = cv2.VideoCapture(str(tmp_path / "cine.mp4"))
    ok, first = cap.read()
    cap.release()
    assert ok and first[:25].max() < 40  # cleaned: black above the 2D region (lossy codec tolerance)
    import imageio_ffmpeg  # the test extra installs it

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()  # an independent decoder
    proc = subprocess.run([ffmpeg, "-hide_banner", "-i", str(tmp_path / "cine.mp4"), "-f", "null", "-"],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0 and "frame=  120" in proc.stderr and "time=00:00:04.00" in proc.stderr


def test_uneven_frame_time_vector_is_resampled():
    class Timing:
        frame_time_ms = 50.0
        timestamps_ms = (0.0, 50.0, 150.0, 200.0)
        duration_ms = 250.0

        def frame_at_time(self, t):
            return max(i for i, s in enumerate(self.timestamps_ms) if s <= t + 1e-9)

    fps, schedule = playback_schedule(Timing())
    assert fps == 20.0 and schedule == [0, 1, 1, 2, 3]


def test_frame_png(tmp_path):
    loop, record, *_ = sample_exam(with_model=False)
    import cv2

    path = write_frame_png(loop, 0, tmp_path / "f.png", FrameOverlay("Brain", (), tuple(record.measurements)))
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    assert rgb.shape == (600, 800, 3) and not np.array_equal(rgb, loop.frame(0))
    with pytest.raises(ValueError, match="frame_index 1"):
        write_frame_png(loop, 1, tmp_path / "g.png")


def test_tables_round_trip(tmp_path):
    loop, record, predictions, info = sample_exam()
    record.put_measurement(make_distance(loop.sop_instance_uid, 0, ((10.5, 5.5), (30.5, 5.5)), (), label="FL",
                                         measurement_id="uncal"))  # fmt: skip
    content = build_report_content([loop], record, predictions, model_info=info)
    rows = read_table_csv(write_measurements_csv(content, tmp_path / "m.csv"))
    by_id = {r["measurement_id"]: r for r in rows}
    for m in record.measurements:
        assert by_id[m.measurement_id]["value_px"] == m.value_px
        assert by_id[m.measurement_id]["value_mm"] == m.value_mm
    assert by_id["uncal"]["value_mm"] is None and by_id["uncal"]["calibration"].startswith("not available")
    assert by_id["hc"]["source"] == "automatic" and by_id["hc"]["ga_method"] == "Hadlock 1984 (HC)"
    preds = read_table_csv(write_predictions_csv(content, tmp_path / "p.csv"))
    assert preds[0]["prob_brain"] == 0.92 and preds[0]["frame_index"] == 0 and preds[0]["ga_days"] == 150.0
    # people read the CSV: the 1-based frame number beside the 0-based index
    assert all(r["frame_number"] == r["frame_index"] + 1 for r in preds + rows)
    data = read_report_json(write_report_json(content, tmp_path / "r.json"))
    assert data["model_outputs"][0]["frame_index"] == 0 and "frame_number" not in data["model_outputs"][0]
    brain = next(c for c in data["checklist"] if c["plane"] == "Brain")
    assert brain["best_frame"].endswith(f", frame 1 of {loop.n_frames}"), brain  # the PDF's cell: 1-based
    assert (
        data["header"]["Patient ID"] == "11-05-25-142825" and data["model_outputs"][0]["top_plane"] == "brain"
    )
    assert [p["label"] for p in data["parameters"]] == ["BPD", "HC", "FL"]
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(Exception, match="bad.json: not a FetalViewer report"):
        read_report_json(tmp_path / "bad.json")


def test_tables_without_model(tmp_path):
    loop = open_instance(get_testdata_file("OBXXXX1A.dcm"))
    content = build_report_content([loop], ExamRecord(loop.study_instance_uid), None)
    assert read_table_csv(write_predictions_csv(content, tmp_path / "p.csv")) == []
    assert read_report_json(write_report_json(content, tmp_path / "r.json"))["model_outputs"] == []
