"""Shared test configuration: every user folder goes to tmp_path; no network; Qt offscreen."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path, monkeypatch):
    """Point settings, caches, logs and the weights variable at a fresh folder for every test."""
    home = tmp_path / "fetalviewer-home"
    monkeypatch.setenv("FETALVIEWER_HOME", str(home))
    monkeypatch.delenv("FETALVIEWER_WEIGHTS", raising=False)
    return home


@pytest.fixture()
def one_torch_thread():
    """Training tests run torch on one thread (the machine's other core stays free), then restore it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
