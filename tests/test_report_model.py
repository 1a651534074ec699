"""``fetalviewer report --weights``: the study is analysed by the model engine first (tiny random-weight
checkpoint in the official format), and the model card, model outputs and provenance reach the exports."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from fetalviewer.cli import main
from fetalviewer.report.tables import read_report_json, read_table_csv

pytest_plugins = ["tests.model_fixtures"]


@pytest.mark.slow
def test_report_with_model(tmp_path, tiny_weights, tiny_config):
    from tests.model_fixtures import write_us_dicom

    rng = np.random.default_rng(0)
    cine = write_us_dicom(tmp_path / "cine.dcm", rng.integers(0, 255, (6, 60, 80), dtype=np.uint8))
    out = tmp_path / "out"
    code = main(["report", str(cine), "--out", str(out), "--weights", str(tiny_weights), "--config",
                 str(tiny_config), "--analysis-step", "2", "--formats", "json,csv,pdf"])  # fmt: skip
    assert code == 0
    data = read_report_json(out / "report.json")
    card = data["model_card"]
    assert card["available"] is True
    assert card["fields"]["SHA-256"] == hashlib.sha256(tiny_weights.read_bytes()).hexdigest()
    rows = read_table_csv(out / "model_outputs.csv")
    assert [r["frame_index"] for r in rows] == [0, 2, 4]
    assert all(abs(sum(v for k, v in r.items() if k.startswith("prob_")) - 1.0) < 1e-4 for r in rows)
    assert not data["checklist"][0]["status"].startswith("model not available")
