"""Benchmark: full report export of a 120-frame cine with overlays (goal: under 30 s on this CPU).

Run by hand: ``python bench/bench_export.py``. Uses pydicom-data's ``color3d_jpeg_baseline.dcm``
(SonoSite cine, 120 frames 640x480, JPEG baseline) with a caliper on every 10th frame and a plane
label on every frame (fake model read-outs, no weights needed), then exports every format, plain and
de-identified, and prints the wall time of each run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    os.environ.setdefault("FETALVIEWER_HOME", tempfile.mkdtemp(prefix="fv-bench-home-"))
    from pydicom.data import get_testdata_file

    from fetalviewer.analysis.measurement import make_distance, make_ellipse
    from fetalviewer.dicom import open_instance
    from fetalviewer.exam.record import ExamRecord
    from fetalviewer.model.planes import PLANE_CLASSES
    from fetalviewer.model.results import FramePrediction
    from fetalviewer.report.build import build_report_content
    from fetalviewer.report.export import DEFAULT_FORMATS, ExportOptions, export_exam

    path = get_testdata_file("color3d_jpeg_baseline.dcm")
    results = []
    for deidentify in (False, True):
        loop = open_instance(path, cache_mb=0)  # no frame cache: every frame decoded during the export
        uid = loop.sop_instance_uid
        record = ExamRecord(loop.study_instance_uid)
        for f in range(0, loop.n_frames, 10):
            record.put_measurement(
                make_distance(uid, f, ((200.5, 200.5), (320.5 + f, 260.5)), loop.regions, label="FL")
            )
        record.put_measurement(make_ellipse(uid, 60, (340, 220), (120, 90), 15, loop.regions, label="AC"))
        predictions = []
        for f in range(loop.n_frames):
            probs = dict.fromkeys(PLANE_CLASSES, 0.1 / 8)
            probs["heart"] = 0.9
            predictions.append(
                FramePrediction(str(path), f, probs, "heart", 0.9, ga_unavailable_reason="not a head frame")
            )
        start = time.perf_counter()
        content = build_report_content([loop], record, {uid: predictions}, deidentified=deidentify)
        formats = DEFAULT_FORMATS + (("dicom",) if deidentify else ())
        with tempfile.TemporaryDirectory(prefix="fv-bench-out-") as out:
            result = export_exam(
                content, [loop], record.measurements, out, ExportOptions(formats, deidentify)
            )
            seconds = time.perf_counter() - start
            sizes = sum(p.stat().st_size for p in Path(out).iterdir())
        loop.close()
        label = "de-identified" if deidentify else "plain"
        results.append(seconds)
        print(
            f"{label:14s} export: {seconds:6.2f} s, {len(result.files)} files, {sizes / 1e6:.1f} MB ({','.join(formats)})"
        )
    print(f"goal: < 30 s each -> {'PASS' if max(results) < 30 else 'FAIL'} (cpu_count={os.cpu_count()})")
    return 0 if max(results) < 30 else 1


if __name__ == "__main__":
    sys.exit(main())
