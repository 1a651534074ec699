"""`fetalviewer info` and `fetalviewer frame` (the issue's acceptance checks)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fetalviewer.cli import main
from fetalviewer.dicom import open_instance
from tests.dicom_reference import data_file


def test_info_json_acceptance(capsys):
    cine, ob = data_file("color3d_jpeg_baseline.dcm"), data_file("OBXXXX1A.dcm")
    assert main(["info", cine, ob, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    by_path = {i["path"]: i for i in doc["instances"]}
    c = by_path[cine]
    assert (c["frames"], c["timing_source"]) == (120, "FrameTime")
    assert c["fps"] == pytest.approx(30.0, abs=0.01) and c["frame_time_ms"] == pytest.approx(33.333)
    assert (c["rows"], c["columns"], c["photometric_interpretation"]) == (480, 640, "YBR_FULL_422")
    assert c["transfer_syntax_uid"] == "1.2.840.10008.1.2.4.50" and "JPEG Baseline" in c["transfer_syntax"]
    o = by_path[ob]
    assert len(o["regions"]) == 2
    tissue, ecg = o["regions"]
    assert (tissue["spatial_format_name"], tissue["data_type_name"], tissue["units_x"]) == (
        "2D",
        "tissue",
        "cm",
    )
    assert round(tissue["mm_per_px_x"], 4) == 0.2623 and round(tissue["mm_per_px_y"], 4) == 0.2623
    assert tissue["box"] == [120, 60, 800, 518]
    assert ecg["mm_per_px_x"] is None and ecg["mm_per_px_y"] is None
    assert o["sop_instance_uid"] == "1.3.46.670589.14.1000.210.2.199999.20110525185628.1.0"
    assert doc["problems"] == []


def test_info_table_and_problems(capsys, tmp_path):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\x00" * 50)
    assert main(["info", data_file("OBXXXX1A.dcm"), str(bad)]) == 0
    out = capsys.readouterr().out
    assert "0.2623 x 0.2623 mm/px" in out and "PALETTE COLOR" in out
    assert "Problems (1)" in out and str(bad) in out
    assert main(["info", str(bad)]) == 2  # nothing opened: refused with the reason


def test_frame_writes_displayed_frame(tmp_path, capsys):
    from PIL import Image

    path = data_file("color3d_jpeg_baseline.dcm")
    out = tmp_path / "f.png"
    assert main(["frame", path, "--index", "7", "--out", str(out)]) == 0
    written = np.asarray(Image.open(out))
    assert np.array_equal(written, open_instance(path).frame(7))
    gray_out = tmp_path / "g.png"
    assert main(["frame", data_file("JPGLosslessP14SV1_1s_1f_8b.dcm"), "--out", str(gray_out)]) == 0
    assert np.asarray(Image.open(gray_out)).ndim == 2


def test_frame_errors(tmp_path, capsys):
    out = tmp_path / "x.png"
    assert main(["frame", data_file("OBXXXX1A.dcm"), "--index", "3", "--out", str(out)]) == 2
    assert "out of range" in capsys.readouterr().err and not out.exists()
    assert main(["frame", str(tmp_path / "none.dcm"), "--out", str(out)]) == 2  # bad input
    err = capsys.readouterr().err
    assert "not found" in err and "none.dcm" in err and "Traceback" not in err
