"""``fetalviewer batch node:NAME``: the studies a real Orthanc (loopback) holds that match the query options
are retrieved into the local archive and analysed; an unknown node is a clear error (exit 2)."""

from __future__ import annotations

import math

import pydicom
from pydicom.data import get_testdata_file

from fetalviewer.cli import main
from fetalviewer.paths import resources_dir
from fetalviewer.settings import update_settings
from tests.orthanc_fixture import APP_AET, ORTHANC_AET, run_orthanc

pytest_plugins = ["tests.model_fixtures"]
TINY_CONFIG = resources_dir() / "model_configs" / "FetalCLIP_tiny_test.json"
FILES = ("US1_UNCR.dcm", "examples_ybr_color.dcm")  # two studies on the node
STEP = 10


def test_node_source_retrieves_matching_studies_and_analyses_them(tmp_path, tiny_weights, capsys):
    with run_orthanc(tmp_path / "orthanc") as orthanc:
        for name in FILES:
            orthanc.upload(get_testdata_file(name))
        update_settings(local_aet=APP_AET, local_port=orthanc.app_port)
        assert main(["nodes", "add", "PACS", "--aet", ORTHANC_AET, "--host", "127.0.0.1",
                     "--port", str(orthanc.dicom_port)]) == 0  # fmt: skip
        cine = pydicom.dcmread(get_testdata_file(FILES[1]), stop_before_pixels=True)
        out = tmp_path / "out"
        args = ["batch", "node:PACS", "--out", str(out), "--weights", str(tiny_weights), "--config",
                str(TINY_CONFIG), "--step", str(STEP), "--study-date", str(cine.StudyDate), "--modality", ""]  # fmt: skip
        assert main(args) == 0
        assert main([*args[:1], "node:NOWHERE", *args[2:]]) == 2
        assert "NOWHERE" in capsys.readouterr().err
    import pyarrow.parquet as pq

    table = pq.read_table(sorted(out.glob("frames-*.parquet")))
    assert set(table.column("study_instance_uid").to_pylist()) == {str(cine.StudyInstanceUID)}
    assert table.num_rows == math.ceil(int(cine.NumberOfFrames) / STEP)
    assert all(p.startswith(str(tmp_path)) for p in table.column("source_path").to_pylist())  # the archive
