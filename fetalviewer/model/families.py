"""The two model families the app runs, and recognising which one a checkpoint holds from its tensors.

* **FetalCLIP** (Maani et al., arXiv 2502.14807): open_clip ``CLIP`` with a ViT-L/14 image tower at 224 px,
  CLIP (Radford et al. 2021) normalisation, causal text tower with context 117.
* **MobileFetalCLIP** (Saeed, Maani, Yaqub, arXiv 2603.05421): open_clip ``CustomTextCLIP`` with a timm
  FastViT MCi0 image tower at 256 px, ImageNet normalisation, bidirectional text tower with context 117.

A checkpoint is recognised by its image-tower tensor names: ``visual.transformer.resblocks.*`` with
``visual.class_embedding`` is a ViT (FetalCLIP family); ``visual.trunk.*`` in either the MobileCLIP naming
(``patch_embed``/``network``) or timm's (``stem``/``stages``) is a FastViT (MobileFetalCLIP family).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fetalviewer.errors import WeightsMismatch
from fetalviewer.paths import resources_dir

#: What a user may ask for (settings, ``--model``, the window's AI panel).
MODEL_CHOICES: tuple[str, ...] = ("auto", "fetalclip", "mobilefetalclip")
_BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class ModelFamily:
    """One published model: its name, architecture, bundled config and weights file name."""

    key: str
    name: str
    architecture: str
    config_file: str
    weights_file: str
    paper: str
    source: str

    @property
    def default_config_path(self) -> Path:
        return resources_dir() / "model_configs" / self.config_file


FETALCLIP = ModelFamily(
    key="fetalclip",
    name="FetalCLIP",
    architecture="ViT-L/14",
    config_file="FetalCLIP_config.json",
    weights_file="FetalCLIP_weights.pt",
    paper="arXiv 2502.14807",
    source="Hugging Face numansaeed/fetalclip-model",
)
MOBILEFETALCLIP = ModelFamily(
    key="mobilefetalclip",
    name="MobileFetalCLIP",
    architecture="FastViT MCi0",
    config_file="MobileFetalCLIP_config.json",
    weights_file="mobile_fetal_clip_weights.pt",
    paper="arXiv 2603.05421",
    source="Hugging Face numansaeed/MobileFetalCLIP",
)
FAMILIES: dict[str, ModelFamily] = {f.key: f for f in (FETALCLIP, MOBILEFETALCLIP)}


def family(key: str) -> ModelFamily:
    if key not in FAMILIES:
        raise ValueError(f"model must be one of {', '.join(FAMILIES)}, got {key!r}")
    return FAMILIES[key]


def check_choice(choice: str) -> str:
    if choice not in MODEL_CHOICES:
        raise ValueError(f"model must be one of {', '.join(MODEL_CHOICES)}, got {choice!r}")
    return choice


def is_apple_fastvit_naming(keys) -> bool:
    """True when image-tower keys use the MobileCLIP (Apple) FastViT names (``patch_embed``/``network``)."""
    return any(k.startswith(("visual.trunk.patch_embed.", "visual.trunk.network.")) for k in keys)


def family_of_keys(keys) -> ModelFamily | None:
    keys = list(keys)
    if any(k.startswith("visual.transformer.resblocks.") for k in keys) and "visual.class_embedding" in keys:
        return FETALCLIP
    if is_apple_fastvit_naming(keys) or any(k.startswith("visual.trunk.stem.") for k in keys):
        return MOBILEFETALCLIP
    return None


def parameter_count(state: Mapping[str, Any]) -> int:
    """Number of parameters in a state dict (BatchNorm running statistics and counters excluded)."""
    return sum(int(v.numel()) for k, v in state.items() if not k.endswith(_BUFFER_SUFFIXES))


def _vit_architecture(state: Mapping[str, Any]) -> str:
    conv = state.get("visual.conv1.weight")
    layers = {int(m.group(1)) for k in state if (m := re.match(r"visual\.transformer\.resblocks\.(\d+)\.", k))}
    if conv is None or not layers:
        return "ViT"
    width, patch = int(conv.shape[0]), int(conv.shape[-1])
    if width == 1024 and len(layers) == 24:
        return f"ViT-L/{patch}"
    return f"ViT, width {width}, {len(layers)} layers, patch {patch}"


def recognise(state: Mapping[str, Any], source: str = "checkpoint") -> tuple[ModelFamily, str]:
    """(family, description such as "MobileFetalCLIP (FastViT MCi0, 75 M parameters)") of a state dict.

    Raises WeightsMismatch naming ``source`` when the tensors are neither family's.
    """
    fam = family_of_keys(state)
    if fam is None:
        raise WeightsMismatch(
            f"{source}: neither a FetalCLIP (ViT image tower) nor a MobileFetalCLIP (FastViT image tower) "
            "checkpoint"
        )
    arch = _vit_architecture(state) if fam is FETALCLIP else fam.architecture
    millions = parameter_count(state) / 1e6
    size = f"{millions:.0f} M" if millions >= 1 else f"{millions:.2f} M"
    return fam, f"{fam.name} ({arch}, {size} parameters)"


__all__ = [
    "FAMILIES",
    "FETALCLIP",
    "MOBILEFETALCLIP",
    "MODEL_CHOICES",
    "ModelFamily",
    "check_choice",
    "family",
    "family_of_keys",
    "is_apple_fastvit_naming",
    "parameter_count",
    "recognise",
]
