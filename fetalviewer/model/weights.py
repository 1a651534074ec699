"""Where the FetalCLIP weights are, and installing them (the app never downloads anything).

Resolution order: ``--weights`` > ``FETALVIEWER_WEIGHTS`` > the user settings (``weights install``) >
the install's ``weights/`` folder (``FetalCLIP_weights.pt`` first, then any ``*.pt`` / ``*.safetensors``).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fetalviewer.errors import WeightsNotFound
from fetalviewer.model.results import FETALCLIP_LICENCE
from fetalviewer.paths import bundled_weights_dir
from fetalviewer.settings import load_settings, update_settings

ENV_VAR = "FETALVIEWER_WEIGHTS"
OFFICIAL_FILENAME = "FetalCLIP_weights.pt"
#: Published size of FetalCLIP_weights.pt, and the sha256 a third-party copy reports (not verified
#: against the authors' source; shown for information only).
PUBLISHED_SIZE_BYTES = 1_710_766_661
REPORTED_SHA256 = "90916caa408baf9374ee3f8c1533463331a4ace37a13e61385e782905b35c310"
HOW_TO_INSTALL = (
    "download FetalCLIP_weights.pt from the FetalCLIP authors (Hugging Face numansaeed/fetalclip-model; "
    f"licence {FETALCLIP_LICENCE}) and run 'fetalviewer weights install PATH', or set {ENV_VAR}, "
    "or pass --weights PATH"
)


@dataclass(frozen=True)
class WeightsLocation:
    path: Path
    origin: str  # "command line" | "environment" | "settings" | "bundled"


def _bundled_candidates() -> list[Path]:
    folder = bundled_weights_dir()
    if not folder.is_dir():
        return []
    first = folder / OFFICIAL_FILENAME
    others = sorted(p for p in folder.iterdir() if p.suffix in (".pt", ".pth", ".safetensors") and p != first)
    return ([first] if first.is_file() else []) + others


def resolve_weights(explicit: str | os.PathLike[str] | None = None) -> WeightsLocation:
    """The weights file in force, or WeightsNotFound saying how to install one."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise WeightsNotFound(f"{path}: weights file not found (given with --weights)")
        return WeightsLocation(path, "command line")
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise WeightsNotFound(f"{path}: weights file not found (set in {ENV_VAR})")
        return WeightsLocation(path, "environment")
    stored = load_settings().get("weights_path")
    if stored:
        path = Path(stored)
        if not path.is_file():
            raise WeightsNotFound(f"{path}: the installed weights file is gone; {HOW_TO_INSTALL}")
        return WeightsLocation(path, "settings")
    bundled = _bundled_candidates()
    if bundled:
        return WeightsLocation(bundled[0], "bundled")
    raise WeightsNotFound(f"no FetalCLIP weights configured: {HOW_TO_INSTALL}")


def install_weights(
    path: str | os.PathLike[str], config_path: str | os.PathLike[str] | None = None, progress=None
) -> dict[str, Any]:
    """Check that ``path`` loads strictly (with ``config_path``), then record it in the settings."""
    from fetalviewer.model.loader import load_fetalclip

    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise WeightsNotFound(f"{path}: weights file not found")
    loaded = load_fetalclip(path, config_path, device="cpu", progress=progress)
    info = loaded.info
    del loaded
    record = {
        "weights_path": str(path),
        "weights_sha256": info.weights_sha256,
        "weights_size_bytes": info.weights_size_bytes,
        "weights_config_path": str(Path(config_path).resolve()) if config_path else None,
        "weights_config_name": info.config_name,
        "weights_installed_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    update_settings(**record)
    return record


def weights_status(explicit: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """What ``weights status`` prints: the file in force, its size, sha256, licence and origin."""
    from fetalviewer.model.hashing import file_sha256

    try:
        location = resolve_weights(explicit)
    except WeightsNotFound as exc:
        return {"available": False, "reason": str(exc)}
    settings = load_settings()
    size = location.path.stat().st_size
    sha = file_sha256(location.path)
    status: dict[str, Any] = {
        "available": True,
        "weights_path": str(location.path.resolve()),
        "origin": location.origin,
        "size_bytes": size,
        "sha256": sha,
        "licence": FETALCLIP_LICENCE,
        "matches_reported_fetalclip_sha256": sha == REPORTED_SHA256,
    }
    if location.origin == "settings":
        status["installed_at"] = settings.get("weights_installed_at")
        status["config_path"] = settings.get("weights_config_path")
        if settings.get("weights_sha256") and settings["weights_sha256"] != sha:
            status["warning"] = "the file changed since it was installed (sha256 differs); reinstall it"
    return status


def configured_config_path() -> str | None:
    """The model config recorded at install time (None: the bundled FetalCLIP config)."""
    return load_settings().get("weights_config_path")


WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
OFFICIAL_WEIGHTS_NAME = "FetalCLIP_weights.pt"
OFFICIAL_CONFIG_NAME = "FetalCLIP_config.json"


def _is_model_config(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "vision_cfg" in data and "text_cfg" in data


def weights_in_folder(folder: str | Path) -> tuple[Path, Path | None]:
    """The weights file in ``folder`` and the open_clip config beside it (None: the bundled FetalCLIP one).

    ``FetalCLIP_weights.pt`` is taken first, else the only weights file in the folder; the config is
    ``FetalCLIP_config.json`` or the only JSON file that is an open_clip model config. Raises
    WeightsNotFound naming the folder when there is no weights file or more than one candidate.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsNotFound(f"{folder}: not a folder")
    official = folder / OFFICIAL_WEIGHTS_NAME
    if official.is_file():
        weights = official
    else:
        candidates = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in WEIGHT_SUFFIXES)
        if not candidates:
            raise WeightsNotFound(f"{folder}: no weights file ({', '.join(WEIGHT_SUFFIXES)}) in this folder")
        if len(candidates) > 1:
            names = ", ".join(p.name for p in candidates[:5])
            raise WeightsNotFound(f"{folder}: several weights files ({names}); choose the file itself")
        weights = candidates[0]
    config_official = folder / OFFICIAL_CONFIG_NAME
    if config_official.is_file() and _is_model_config(config_official):
        return weights, config_official
    configs = [p for p in sorted(folder.glob("*.json")) if _is_model_config(p)]
    return weights, configs[0] if len(configs) == 1 else None
