"""Head files: one safetensors file per trained FetalCLIP-feature head, with a JSON header.

Format (``*.fvhead.safetensors``): the tensors of the head's ``state_dict`` plus the safetensors
metadata key ``fetalviewer_head`` holding a JSON :class:`HeadHeader`: format version, kind (``seg`` |
``chd`` | ``plane``), the backbone it was trained for (:class:`BackboneSpec`), class names, the head's
architecture parameters, the training recipe, and the validation score. Written atomically.

Heads are looked up in ``weights/heads/`` (shipped with the app) and in the user's data folder
(``user_dirs().heads_dir``, where ``fetalviewer train-head`` puts them); a user head wins over a shipped
one; the newest file wins within a folder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fetalviewer.atomic import atomic_path
from fetalviewer.errors import WeightsMismatch, WeightsNotFound
from fetalviewer.model.heads.backbone import BackboneSpec, check_backbone
from fetalviewer.paths import bundled_weights_dir, user_dirs

FORMAT_VERSION = 1
HEAD_KINDS = ("seg", "chd", "plane")
HEAD_SUFFIX = ".fvhead.safetensors"
METADATA_KEY = "fetalviewer_head"


@dataclass(frozen=True)
class HeadHeader:
    """Everything a head file says about itself besides its tensors."""

    kind: str
    backbone: BackboneSpec
    class_names: tuple[str, ...]
    architecture: dict
    recipe: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)
    created_utc: str = ""
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.kind not in HEAD_KINDS:
            raise ValueError(f"kind must be one of {HEAD_KINDS}, got {self.kind!r}")
        if not isinstance(self.backbone, BackboneSpec):
            raise TypeError(f"backbone must be a BackboneSpec, got {type(self.backbone).__name__}")
        names = tuple(self.class_names)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"class_names must be non-empty strings, got {self.class_names!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"class_names must be unique, got {names!r}")
        object.__setattr__(self, "class_names", names)
        if not isinstance(self.architecture, dict):
            raise TypeError("architecture must be a dict")

    def to_json(self) -> str:
        data = asdict(self)
        data["backbone"] = self.backbone.to_dict()
        data["class_names"] = list(self.class_names)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: object = "head file") -> HeadHeader:
        try:
            data = json.loads(text)
            if int(data.get("format_version", 0)) > FORMAT_VERSION:
                raise WeightsMismatch(
                    f"{source}: head format {data['format_version']} is newer than this app "
                    f"understands ({FORMAT_VERSION}); update FetalViewer"
                )
            data["backbone"] = BackboneSpec.from_dict(data["backbone"])
            return cls(**data)
        except WeightsMismatch:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise WeightsMismatch(f"{source}: not a valid FetalViewer head header ({exc})") from exc


def save_head(path: str | Path, header: HeadHeader, state_dict: dict) -> Path:
    """Write a head file atomically (tensors are saved contiguous, on the CPU)."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(tensors, str(tmp), metadata={METADATA_KEY: header.to_json()})
    return path


def read_header(path: str | Path) -> HeadHeader:
    """The header of a head file without loading its tensors."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise WeightsNotFound(f"{path}: head file not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise WeightsMismatch(f"{path}: not a readable safetensors head file ({exc})") from exc
    if METADATA_KEY not in metadata:
        raise WeightsMismatch(f"{path}: safetensors file without a FetalViewer head header")
    return HeadHeader.from_json(metadata[METADATA_KEY], source=path)


def load_head(path: str | Path, kind: str | None = None, backbone: BackboneSpec | None = None):
    """``(header, state_dict)`` of a head file; refuses another kind or another backbone (WeightsMismatch)."""
    from safetensors.torch import load_file

    path = Path(path)
    header = read_header(path)
    if kind is not None and header.kind != kind:
        raise WeightsMismatch(f"{path}: this is a '{header.kind}' head, expected a '{kind}' head")
    if backbone is not None:
        check_backbone(header.backbone, backbone, path)
    return header, load_file(str(path))


def head_dirs() -> list[Path]:
    """Folders searched for head files, highest priority first."""
    return [user_dirs().heads_dir, bundled_weights_dir() / "heads"]


@dataclass(frozen=True)
class HeadChoice:
    """The head chosen for a kind and a backbone, or ``path=None`` with the reason."""

    kind: str
    path: Path | None
    reason: str
    refused: tuple[str, ...] = ()


def find_head(kind: str, backbone: BackboneSpec | None) -> HeadChoice:
    """The best installed head of ``kind`` that fits ``backbone`` (None: no backbone loaded)."""
    if kind not in HEAD_KINDS:
        raise ValueError(f"kind must be one of {HEAD_KINDS}, got {kind!r}")
    how = f"train one with 'fetalviewer train-head {kind} --data DIR --weights W'"
    if backbone is None:
        return HeadChoice(kind, None, f"no FetalCLIP weights loaded, so no '{kind}' head can run")
    refused = []
    for folder in head_dirs():
        if not folder.is_dir():
            continue
        files = sorted(folder.glob(f"*{HEAD_SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
        for path in files:
            try:
                header = read_header(path)
                if header.kind != kind:
                    continue
                check_backbone(header.backbone, backbone, path)
            except (WeightsMismatch, WeightsNotFound) as exc:
                refused.append(str(exc))
                continue
            return HeadChoice(kind, path, f"head file {path}", tuple(refused))
    if refused:
        return HeadChoice(
            kind,
            None,
            f"no installed '{kind}' head fits the loaded weights ({refused[0]}); {how}",
            tuple(refused),
        )
    return HeadChoice(kind, None, f"no '{kind}' head is installed; {how}")
