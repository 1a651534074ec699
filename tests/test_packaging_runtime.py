"""Runtime behaviour the installed app relies on: PHI-free logs end to end, portable mode, frozen paths."""

from __future__ import annotations

import logging
import sys

import pydicom
import pytest

from fetalviewer import cli, paths
from fetalviewer.paths import sample_study_dir, user_dirs

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def _sample_identifiers() -> set[str]:
    found: set[str] = set()
    for path in sorted(sample_study_dir().glob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        for keyword in ("PatientName", "PatientID", "AccessionNumber", "PatientBirthDate"):
            value = str(ds.get(keyword, "") or "")
            if value:
                found.add(value)
    return found


@pytest.fixture()
def _restore_root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def test_opening_the_sample_in_the_window_logs_no_patient_identifiers(qapp, tmp_path, _restore_root_logging):
    identifiers = _sample_identifiers()
    assert "FVTEST^ALBA" in identifiers and "FVT-0001" in identifiers
    png = tmp_path / "shot.png"
    # The same path as a user's 'fetalviewer --sample': logging configured, window opens the study.
    status = cli.main(["--sample", "--screenshot", str(png)])
    assert status == 0 and png.is_file()
    for handler in logging.getLogger().handlers:
        handler.flush()
    log_files = [p for p in user_dirs().log_dir.rglob("*") if p.is_file()]
    assert log_files, "the window wrote no log"
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in log_files)
    assert "opened 4 instance(s)" in text  # the study really was opened and logged
    for value in identifiers | {"FVTEST^", "ALBA", "FVT-0001"}:
        assert value not in text, f"log contains {value!r}"


def test_portable_marker_keeps_every_folder_beside_the_frozen_app(monkeypatch, tmp_path):
    app_dir = tmp_path / "FetalViewer"
    (app_dir / "_internal").mkdir(parents=True)
    monkeypatch.delenv("FETALVIEWER_HOME")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(app_dir / "_internal"), raising=False)
    monkeypatch.setattr(sys, "executable", str(app_dir / "FetalViewer"))

    assert paths.resources_dir() == app_dir / "_internal" / "resources"
    without_marker = user_dirs(create=False)
    assert not str(without_marker.config_dir).startswith(str(app_dir))  # per-user folders (platformdirs)

    (app_dir / "portable").write_text("")
    dirs = user_dirs()
    data = app_dir / "FetalViewerData"
    assert (dirs.config_dir, dirs.data_dir, dirs.cache_dir, dirs.log_dir) == (
        data / "config", data / "data", data / "cache", data / "logs"
    )
    assert all(folder.is_dir() for folder in (dirs.config_dir, dirs.log_dir))
    assert dirs.settings_file == data / "config" / "settings.json"


def test_fetalviewer_home_wins_over_portable_mode(monkeypatch, tmp_path):
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "portable.txt").write_text("")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(app_dir / "FetalViewer"))
    monkeypatch.setenv("FETALVIEWER_HOME", str(tmp_path / "home"))
    assert user_dirs(create=False).log_dir == tmp_path / "home" / "logs"
    monkeypatch.delenv("FETALVIEWER_HOME")
    assert user_dirs(create=False).log_dir == app_dir / "FetalViewerData" / "logs"


def test_main_entry_guards_missing_streams_and_sets_offline_flags(monkeypatch):
    import os

    import fetalviewer.__main__ as entry

    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("fetalviewer.crash.install_crash_handler", lambda *a, **k: None)
    monkeypatch.setattr("fetalviewer.cli.main", lambda: 0)
    assert entry.run() == 0
    sink = sys.stdout
    try:
        assert sink is not None and sys.stderr is not None
        print("windowed builds have no console; this must not fail")
        assert os.environ["HF_HUB_OFFLINE"] == "1"
    finally:
        sink.close()
