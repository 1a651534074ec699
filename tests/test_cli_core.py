"""The command line's skeleton, settings and atomic writes."""

from __future__ import annotations

import json

import pytest

from fetalviewer import cli
from fetalviewer.atomic import atomic_path, write_text_atomic
from fetalviewer.paths import user_dirs
from fetalviewer.settings import add_recent_file, load_settings, update_settings


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "fetalviewer" in out
    for name in cli.load_commands():
        assert name in out


def test_user_dirs_follow_env(tmp_path, monkeypatch):
    monkeypatch.setenv("FETALVIEWER_HOME", str(tmp_path / "h"))
    dirs = user_dirs()
    assert dirs.config_dir == tmp_path / "h" / "config"
    assert dirs.cache_dir.is_dir()


def test_settings_roundtrip_and_corrupt_file_recovers():
    update_settings(weights_path="/x/w.pt")
    assert load_settings()["weights_path"] == "/x/w.pt"
    user_dirs().settings_file.write_text("{not json")
    settings = load_settings()
    assert "weights_path" not in settings
    assert settings["recent_files"] == []


def test_recent_files_most_recent_first_without_duplicates():
    add_recent_file("a")
    add_recent_file("b")
    assert add_recent_file("a") == ["a", "b"]


def test_atomic_write_leaves_target_untouched_on_failure(tmp_path):
    target = tmp_path / "out.json"
    write_text_atomic(target, json.dumps({"v": 1}))
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_write_gives_normal_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        target = write_text_atomic(tmp_path / "report.txt", "x")
    finally:
        os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o644
