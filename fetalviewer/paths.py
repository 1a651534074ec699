"""Where FetalViewer keeps settings, caches and logs, and where its bundled resources are.

Per-user folders come from platformdirs. Two overrides, checked in this order:

* ``FETALVIEWER_HOME``: every folder lives under this directory (tests, scripted runs);
* portable mode: a file named ``portable`` (or ``portable.txt``) beside the executable of a frozen
  build (or beside the source tree's ``pyproject.toml``) keeps everything in ``FetalViewerData``
  next to it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "FetalViewer"
APP_AUTHOR = "FetalViewer"


def install_root() -> Path:
    """Folder holding ``resources/`` and ``weights/``: the bundle folder when frozen, else the repo."""
    if getattr(sys, "frozen", False):
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
    return Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    return install_root() / "resources"


def bundled_weights_dir() -> Path:
    return install_root() / "weights"


def sample_study_dir() -> Path:
    return resources_dir() / "sample"


def _portable_root() -> Path | None:
    base = Path(sys.executable).parent if getattr(sys, "frozen", False) else install_root()
    for marker in ("portable", "portable.txt"):
        if (base / marker).exists():
            return base / "FetalViewerData"
    return None


@dataclass(frozen=True)
class UserDirs:
    """The per-user folders; created on first use by :func:`user_dirs`."""

    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def heads_dir(self) -> Path:
        return self.data_dir / "heads"


def user_dirs(create: bool = True) -> UserDirs:
    """Return the folders in force now (environment is read on every call, so tests can redirect)."""
    home = os.environ.get("FETALVIEWER_HOME")
    root = Path(home) if home else _portable_root()
    if root is not None:
        dirs = UserDirs(root / "config", root / "data", root / "cache", root / "logs")
    else:
        import platformdirs

        dirs = UserDirs(
            Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR)),
            Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR)),
            Path(platformdirs.user_cache_dir(APP_NAME, APP_AUTHOR)),
            Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR)),
        )
    if create:
        for folder in (dirs.config_dir, dirs.data_dir, dirs.cache_dir, dirs.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
    return dirs
