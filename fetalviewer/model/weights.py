"""Where the model weights are, and installing them (the app never downloads anything).

Two families can be installed side by side (:mod:`fetalviewer.model.families`): FetalCLIP and
MobileFetalCLIP; which one a file holds is recognised from its tensors. Resolution order for a weights
file: ``--weights`` > ``FETALVIEWER_WEIGHTS`` > the files installed with ``weights install`` (settings key
``installed_weights``, one record per family; the flat ``weights_path`` keys of older versions still count)
> the install's ``weights/`` folder. With the model choice ``auto``, FetalCLIP runs on a GPU and
MobileFetalCLIP on the CPU when both are there; otherwise whichever is there.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fetalviewer.errors import WeightsMismatch, WeightsNotFound
from fetalviewer.model.families import FAMILIES, FETALCLIP, MOBILEFETALCLIP, ModelFamily, check_choice
from fetalviewer.model.results import FETALCLIP_LICENCE
from fetalviewer.paths import bundled_weights_dir
from fetalviewer.settings import load_settings, update_settings

ENV_VAR = "FETALVIEWER_WEIGHTS"
OFFICIAL_FILENAME = "FetalCLIP_weights.pt"
#: Published size of FetalCLIP_weights.pt, and the sha256 a third-party copy reports (not verified
#: against the authors' source; shown for information only).
PUBLISHED_SIZE_BYTES = 1_710_766_661
REPORTED_SHA256 = "90916caa408baf9374ee3f8c1533463331a4ace37a13e61385e782905b35c310"
#: sha256 of mobile_fetal_clip_weights.pt from the Hugging Face LFS pointer (not checked against the file).
MOBILE_PUBLISHED_SHA256 = "50ab0669d2f5de80e8d75ef2f3bda054410e3af7db85ac2fa7f045550daf46f1"
INSTALLED_KEY = "installed_weights"
HOW_TO_INSTALL = (
    "download FetalCLIP_weights.pt (Hugging Face numansaeed/fetalclip-model) or mobile_fetal_clip_weights.pt "
    f"(Hugging Face numansaeed/MobileFetalCLIP; both licence {FETALCLIP_LICENCE}) and run "
    f"'fetalviewer weights install PATH', or set {ENV_VAR}, or pass --weights PATH"
)


@dataclass(frozen=True)
class WeightsLocation:
    path: Path
    origin: str  # "command line" | "environment" | "settings" | "bundled"
    family: ModelFamily | None = None  # None: not looked at yet (see :func:`recognise_file`)
    config_path: str | None = None  # the config recorded at install time, if any


_PEEKED: dict[str, tuple[ModelFamily, str]] = {}
_PEEK_LOCK = threading.Lock()


def recognise_file(path: str | os.PathLike[str]) -> tuple[ModelFamily, str]:
    """(family, description) of a weights file from its tensors; remembered per path, size and mtime."""
    from fetalviewer.model.checkpoint import read_state_dict
    from fetalviewer.model.families import recognise

    path = Path(path)
    if not path.is_file():
        raise WeightsNotFound(f"{path}: weights file not found")
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    with _PEEK_LOCK:
        if key in _PEEKED:
            return _PEEKED[key]
    found = recognise(read_state_dict(path), str(path))
    with _PEEK_LOCK:
        _PEEKED[key] = found
    return found


def _bundled_candidates() -> list[Path]:
    folder = bundled_weights_dir()
    if not folder.is_dir():
        return []
    official = [folder / f.weights_file for f in FAMILIES.values() if (folder / f.weights_file).is_file()]
    others = sorted(
        p for p in folder.iterdir() if p.suffix in (".pt", ".pth", ".safetensors") and p not in official
    )
    return official + others


def _records(settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Installed records by family key (settings), the older flat keys included."""
    out: dict[str, dict[str, Any]] = {}
    stored = settings.get(INSTALLED_KEY)
    if isinstance(stored, dict):
        out.update({k: v for k, v in stored.items() if k in FAMILIES and isinstance(v, dict)})
    legacy = settings.get("weights_path")
    if legacy and not any(r.get("weights_path") == legacy for r in out.values()):
        record = {k: settings.get(k) for k in ("weights_path", "weights_sha256", "weights_config_path",
                                               "weights_installed_at")}  # fmt: skip
        out.setdefault(FETALCLIP.key, record)  # versions before MobileFetalCLIP installed FetalCLIP only
    return out


def installed_locations() -> dict[str, WeightsLocation]:
    """Every family's weights that need no command line: settings, else the bundled folder.

    A configured file that is gone raises WeightsNotFound naming it.
    """
    found: dict[str, WeightsLocation] = {}
    for key, record in _records(load_settings()).items():
        path = Path(record["weights_path"])
        if not path.is_file():
            raise WeightsNotFound(f"{path}: the installed weights file is gone; {HOW_TO_INSTALL}")
        found[key] = WeightsLocation(path, "settings", FAMILIES[key], record.get("weights_config_path"))
    for path in _bundled_candidates():
        try:
            fam = recognise_file(path)[0]
        except (WeightsNotFound, WeightsMismatch):
            continue
        found.setdefault(fam.key, WeightsLocation(path, "bundled", fam))
    return found


def model_choice() -> str:
    """The model choice stored in the settings (``model_choice``; ``auto`` when unset or unknown)."""
    from fetalviewer.model.families import MODEL_CHOICES

    value = load_settings().get("model_choice", "auto")
    return value if value in MODEL_CHOICES else "auto"


def set_model_choice(choice: str) -> str:
    """Store the model choice (``auto``, ``fetalclip`` or ``mobilefetalclip``) in the settings."""
    update_settings(model_choice=check_choice(choice))
    return choice


def _on_gpu(device: str) -> bool:
    from fetalviewer.model.devices import resolve_device

    return resolve_device(device)[0].startswith("cuda")


def candidate_weights(
    explicit: str | os.PathLike[str] | None = None, model: str = "auto"
) -> tuple[WeightsLocation, ...]:
    """The weights file(s) a model choice may use, or WeightsNotFound saying how to install one.

    One file, except for ``auto`` with both families installed: then both, in no particular order, and
    :func:`resolve_weights` picks by device. Needs no PyTorch, so the window can ask "are there weights?"
    on its GUI thread before torch is imported (the device question is left to the thread that loads).
    A file given on the command line or in the environment must hold the family asked for (unless
    ``auto``); WeightsMismatch names the file and both families otherwise.
    """
    check_choice(model)
    given = None
    if explicit:
        given = WeightsLocation(Path(explicit).expanduser(), "command line")
        if not given.path.is_file():
            raise WeightsNotFound(f"{given.path}: weights file not found (given with --weights)")
    elif os.environ.get(ENV_VAR):
        given = WeightsLocation(Path(os.environ[ENV_VAR]).expanduser(), "environment")
        if not given.path.is_file():
            raise WeightsNotFound(f"{given.path}: weights file not found (set in {ENV_VAR})")
    if given is not None:
        if model == "auto":
            return (given,)
        fam, description = recognise_file(given.path)
        if fam.key != model:
            raise WeightsMismatch(f"{given.path} holds {description}, not {FAMILIES[model].name} (--model {model})")
        return (WeightsLocation(given.path, given.origin, fam),)
    installed = installed_locations()
    if model != "auto":
        if model not in installed:
            raise WeightsNotFound(f"no {FAMILIES[model].name} weights installed: {HOW_TO_INSTALL}")
        return (installed[model],)
    if not installed:
        raise WeightsNotFound(f"no FetalCLIP weights and no MobileFetalCLIP weights configured: {HOW_TO_INSTALL}")
    return tuple(installed.values())


def resolve_weights(
    explicit: str | os.PathLike[str] | None = None, model: str = "auto", device: str = "auto"
) -> WeightsLocation:
    """The weights file in force for a model choice (see :func:`candidate_weights`).

    Imports PyTorch only for ``auto`` with both families installed (:func:`auto_family` asks for a GPU).
    """
    candidates = candidate_weights(explicit, model)
    if len(candidates) == 1:
        return candidates[0]
    by_family = {loc.family.key: loc for loc in candidates if loc.family is not None}
    return by_family[auto_family(tuple(by_family), device).key]


def auto_family(installed: tuple[str, ...], device: str = "auto") -> ModelFamily:
    """``auto``: FetalCLIP on a GPU, MobileFetalCLIP on the CPU when installed, else whichever is installed."""
    if not installed:
        raise WeightsNotFound(f"no FetalCLIP weights and no MobileFetalCLIP weights configured: {HOW_TO_INSTALL}")
    if len(installed) == 1:
        return FAMILIES[installed[0]]
    return FETALCLIP if _on_gpu(device) else MOBILEFETALCLIP


def install_weights(
    path: str | os.PathLike[str], config_path: str | os.PathLike[str] | None = None, progress=None
) -> dict[str, Any]:
    """Check that ``path`` loads strictly (with ``config_path``), then record it for its family.

    The record (also returned) says which model the file holds (``model``, ``description``).
    """
    from fetalviewer.model.loader import load_checkpoint

    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise WeightsNotFound(f"{path}: weights file not found")
    loaded = load_checkpoint(path, config_path, device="cpu", progress=progress)
    info, fam = loaded.info, loaded.family
    del loaded
    record = {
        "weights_path": str(path),
        "weights_sha256": info.weights_sha256,
        "weights_size_bytes": info.weights_size_bytes,
        "weights_config_path": str(Path(config_path).resolve()) if config_path else None,
        "weights_config_name": info.config_name,
        "weights_installed_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    installed = dict(load_settings().get(INSTALLED_KEY) or {})
    installed[fam.key] = record
    update_settings(**record, **{INSTALLED_KEY: installed})  # flat keys: the latest install (older readers)
    return {**record, "model": fam.key, "model_name": fam.name, "description": info.description}


def _status_of(location: WeightsLocation, settings: dict[str, Any]) -> dict[str, Any]:
    from fetalviewer.model.hashing import file_sha256

    fam, description = recognise_file(location.path)
    size = location.path.stat().st_size
    sha = file_sha256(location.path)
    status: dict[str, Any] = {
        "model": fam.key,
        "model_name": fam.name,
        "description": description,
        "weights_path": str(location.path.resolve()),
        "origin": location.origin,
        "size_bytes": size,
        "sha256": sha,
        "licence": FETALCLIP_LICENCE,
        "matches_reported_fetalclip_sha256": sha == REPORTED_SHA256,
        "matches_published_mobilefetalclip_sha256": sha == MOBILE_PUBLISHED_SHA256,
    }
    record = _records(settings).get(fam.key) if location.origin == "settings" else None
    if record:
        status["installed_at"] = record.get("weights_installed_at")
        status["config_path"] = record.get("weights_config_path")
        if record.get("weights_sha256") and record["weights_sha256"] != sha:
            status["warning"] = "the file changed since it was installed (sha256 differs); reinstall it"
    return status


def weights_status(explicit: str | os.PathLike[str] | None = None, model: str = "auto") -> dict[str, Any]:
    """What ``weights status`` prints: the file ``auto`` (or ``model``) uses, and under ``models`` every
    installed family's file with its size, sha256, licence and origin."""
    settings = load_settings()
    try:
        location = resolve_weights(explicit, model)
        status = {"available": True, **_status_of(location, settings)}
    except (WeightsNotFound, WeightsMismatch) as exc:
        return {"available": False, "reason": str(exc), "models": []}
    models = [status]
    if not explicit and not os.environ.get(ENV_VAR):
        try:
            others = installed_locations()
        except WeightsNotFound:
            others = {}
        models = [_status_of(loc, settings) if key != status["model"] else status for key, loc in others.items()]
    status["models"] = [{k: v for k, v in m.items() if k != "models"} for m in models]
    return status


WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
OFFICIAL_WEIGHTS_NAMES = tuple(f.weights_file for f in FAMILIES.values())
OFFICIAL_CONFIG_NAMES = tuple(f.config_file for f in FAMILIES.values())


def _is_model_config(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "vision_cfg" in data and "text_cfg" in data


def weights_in_folder(folder: str | Path) -> tuple[Path, Path | None]:
    """The weights file in ``folder`` and the open_clip config beside it (None: the bundled FetalCLIP one).

    A published file name (``FetalCLIP_weights.pt``, ``mobile_fetal_clip_weights.pt``) is taken first, else
    the only weights file in the folder; the config is the published config name or the only JSON file that
    is an open_clip model config. Raises WeightsNotFound naming the folder when there is no weights file or
    more than one candidate.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsNotFound(f"{folder}: not a folder")
    official = [folder / n for n in OFFICIAL_WEIGHTS_NAMES if (folder / n).is_file()]
    if len(official) > 1:
        names = ", ".join(p.name for p in official)
        raise WeightsNotFound(f"{folder}: several weights files ({names}); choose the file itself")
    if official:
        weights = official[0]
    else:
        candidates = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in WEIGHT_SUFFIXES)
        if not candidates:
            raise WeightsNotFound(f"{folder}: no weights file ({', '.join(WEIGHT_SUFFIXES)}) in this folder")
        if len(candidates) > 1:
            names = ", ".join(p.name for p in candidates[:5])
            raise WeightsNotFound(f"{folder}: several weights files ({names}); choose the file itself")
        weights = candidates[0]
    for name in OFFICIAL_CONFIG_NAMES:
        config_official = folder / name
        if config_official.is_file() and _is_model_config(config_official):
            return weights, config_official
    configs = [p for p in sorted(folder.glob("*.json")) if _is_model_config(p)]
    return weights, configs[0] if len(configs) == 1 else None
