"""User settings: one JSON file in the user's config folder, written atomically.

Keys used across the app (others may be added by features):

* ``weights_path``, ``weights_sha256``, ``weights_size_bytes``: the installed FetalCLIP weights;
* ``recent_files``: most recent first;
* ``uncertain_threshold_0_1``: plane badge threshold;
* ``auto_analyze``: analyse a study when it is opened.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fetalviewer.atomic import write_text_atomic
from fetalviewer.paths import user_dirs

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "recent_files": [],
    "uncertain_threshold_0_1": 0.5,
    "auto_analyze": False,
    "discordance_threshold_days": 14,
}
MAX_RECENT = 10


def load_settings() -> dict[str, Any]:
    """Read the settings; a missing or corrupt file gives the defaults (the corrupt file is kept aside)."""
    path = user_dirs().settings_file
    settings = dict(DEFAULTS)
    if not path.exists():
        return settings
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(stored, dict):
            raise ValueError("settings root is not an object")
    except (OSError, ValueError) as exc:
        log.warning("settings file %s unreadable (%s); using defaults", path, exc)
        path.replace(path.with_suffix(".corrupt.json"))
        return settings
    settings.update(stored)
    return settings


def save_settings(settings: dict[str, Any]) -> None:
    write_text_atomic(user_dirs().settings_file, json.dumps(settings, indent=2, sort_keys=True))


def update_settings(**changes: Any) -> dict[str, Any]:
    """Apply ``changes`` to the stored settings and return the new settings."""
    settings = load_settings()
    settings.update(changes)
    save_settings(settings)
    return settings


def add_recent_file(path: str) -> list[str]:
    settings = load_settings()
    recent = [p for p in settings.get("recent_files", []) if p != path]
    recent.insert(0, path)
    settings["recent_files"] = recent[:MAX_RECENT]
    save_settings(settings)
    return settings["recent_files"]
