"""sha256 of weights files is cached by (path, size, mtime) and recomputed when the file changes."""

from __future__ import annotations

import hashlib
import os

from fetalviewer.model import hashing


def test_sha256_is_cached_and_invalidated_by_changes(tmp_path, monkeypatch):
    path = tmp_path / "w.pt"
    path.write_bytes(b"a" * 1000)
    assert hashing.file_sha256(path) == hashlib.sha256(b"a" * 1000).hexdigest()
    calls = []
    real = hashing.sha256_uncached
    monkeypatch.setattr(
        hashing, "sha256_uncached", lambda p, progress=None: calls.append(p) or real(p, progress)
    )
    assert hashing.file_sha256(path) == hashlib.sha256(b"a" * 1000).hexdigest()
    assert calls == []  # served from the cache
    path.write_bytes(b"b" * 1000)  # same size, new content and mtime
    os.utime(path, ns=(1, 1))
    assert hashing.file_sha256(path) == hashlib.sha256(b"b" * 1000).hexdigest()
    assert len(calls) == 1


def test_progress_is_reported_while_hashing(tmp_path, monkeypatch):
    monkeypatch.setattr(hashing, "_CHUNK", 100)
    path = tmp_path / "w.pt"
    path.write_bytes(bytes(range(256)) * 2)
    seen = []
    hashing.file_sha256(path, progress=lambda stage, f: seen.append(f))
    assert seen[-1] == 1.0 and len(seen) == 6 and seen == sorted(seen)
