"""``fetalviewer --self-test`` passes on a working installation and fails loudly on a broken one."""

from __future__ import annotations

import pytest

from fetalviewer import cli

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")  # the offscreen platform, on show()


@pytest.mark.slow
def test_self_test_passes(capsys, qapp):
    status = cli.main(["--self-test"])
    out = capsys.readouterr().out
    assert "self-test: PASS" in out, out
    assert status == 0
    for check in ("imports", "sample study", "window (offscreen)", "default head model", "analysis",
                  "PDF report and DICOM SR"):
        assert f"[ok] {check}" in out


def test_self_test_fails_when_sample_is_missing(capsys, monkeypatch, tmp_path, qapp):
    empty = tmp_path / "no-sample"
    empty.mkdir()
    monkeypatch.setattr("fetalviewer.paths.sample_study_dir", lambda: empty)
    status = cli.main(["self-test", "--skip-window"])
    out = capsys.readouterr().out
    assert status == 1
    assert "[FAIL] sample study" in out
    assert "self-test: FAIL" in out
