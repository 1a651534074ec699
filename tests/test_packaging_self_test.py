"""The self-test's default head check: passes on the bundled sample, fails on a broken install."""

from __future__ import annotations

import json
import shutil

import pytest

from fetalviewer.commands import self_test
from fetalviewer.paths import sample_study_dir


def test_default_head_check_measures_the_sample_stills():
    detail = self_test._check_default_head()
    assert detail.startswith("3 stills, HC within ")
    within_mm = float(detail.split("within ")[1].split(" mm")[0])
    assert 0.0 <= within_mm <= self_test.HEAD_CHECK_TOLERANCE_MM


def test_default_head_check_fails_without_the_head_model(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("fetalviewer.model.heads.default_head.default_head_dir", lambda: tmp_path / "gone")
    checks = self_test._Checks()
    assert checks.run("default head model", self_test._check_default_head) is False
    out = capsys.readouterr().out
    assert "[FAIL] default head model" in out and "gone" in out


def test_default_head_check_fails_when_the_measurement_is_off(monkeypatch, tmp_path):
    sample = tmp_path / "sample"
    shutil.copytree(sample_study_dir(), sample)
    truth = json.loads((sample / "sample_truth.json").read_text())
    for item in truth["instances"]:
        item["hc_mm"] += 25.0  # the model now disagrees with the "published" value by ~25 mm
    (sample / "sample_truth.json").write_text(json.dumps(truth))
    monkeypatch.setattr("fetalviewer.paths.sample_study_dir", lambda: sample)
    with pytest.raises(RuntimeError, match="vs published"):
        self_test._check_default_head()
