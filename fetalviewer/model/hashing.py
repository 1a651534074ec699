"""sha256 of large weights files, cached by (path, size, mtime) so a 1.7 GB file is hashed once."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from fetalviewer.atomic import write_text_atomic
from fetalviewer.paths import user_dirs

log = logging.getLogger(__name__)
_CHUNK = 8 * 1024 * 1024
_LOCK = threading.Lock()


def _cache_file() -> Path:
    return user_dirs().cache_dir / "weights_sha256.json"


def _key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


def _read_cache() -> dict[str, str]:
    path = _cache_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("sha256 cache %s unreadable (%s); starting afresh", path, exc)
        return {}


def sha256_uncached(
    path: str | os.PathLike[str], progress: Callable[[str, float], None] | None = None
) -> str:
    path = Path(path)
    total = max(1, path.stat().st_size)
    digest = hashlib.sha256()
    done = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress("checking sha256", done / total)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str], progress: Callable[[str, float], None] | None = None) -> str:
    """sha256 hex digest of ``path``; cached in the user cache keyed by resolved path, size and mtime."""
    path = Path(path)
    key = _key(path)
    with _LOCK:
        cached = _read_cache().get(key)
    if cached:
        return cached
    value = sha256_uncached(path, progress)
    with _LOCK:
        data = _read_cache()
        prefix = f"{path.resolve()}|"
        data = {k: v for k, v in data.items() if not k.startswith(prefix)}
        data[key] = value
        write_text_atomic(_cache_file(), json.dumps(data, indent=1, sort_keys=True))
    return value
