"""Tiny MobileFetalCLIP-family checkpoints for tests, written in the authors' (MobileCLIP-style) key naming.

The tiny config (``resources/model_configs/MobileFetalCLIP_tiny_test.json``) keeps the real FastViT MCi0
image tower (784 image-tower tensors, 256 px) and narrows the bidirectional text tower (width 32, 2 layers,
context 117). The checkpoint is written the way the authors' trainer writes it: ``{"epoch", "state_dict",
"optimizer", "scheduler", "global_step"}``, no ``module.`` prefix, image-tower names in the MobileCLIP
naming. Those names are made here by inverting timm's renaming for this one architecture (test only).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fetalviewer.paths import resources_dir

TINY_MOBILE_CONFIG = resources_dir() / "model_configs" / "MobileFetalCLIP_tiny_test.json"
#: (timm stage, part) -> index in the MobileCLIP module's flat ``network`` list, for MCi0 (2, 6, 10, 2 blocks;
#: downsamplers before stages 1-3; the RepCPE position encoding before stage 3's attention blocks).
_NETWORK_INDEX = {(0, "blocks"): 0, (1, "downsample"): 1, (1, "blocks"): 2, (2, "downsample"): 3,
                  (2, "blocks"): 4, (3, "downsample"): 5, (3, "pos_emb"): 6, (3, "blocks"): 7}  # fmt: skip
_RENAMES = (("conv_kxk", "rbr_conv"), ("conv_scale", "rbr_scale"), ("identity", "rbr_skip"),
            ("large_conv", "lkb_origin"), (".mlp.", ".convffn."), ("se.fc1", "se.reduce"),
            ("se.fc2", "se.expand"))  # fmt: skip


def to_mobileclip_names(state):
    """timm ``fastvit_mci0`` tensor names -> the MobileCLIP-style names of the authors' checkpoint."""
    out = {}
    for key, value in state.items():
        if not key.startswith("visual.trunk."):
            out[key] = value
            continue
        name = key[len("visual.trunk.") :]
        match = re.match(r"stages\.(\d+)\.(downsample|pos_emb|blocks)\.(.*)", name)
        if match:
            index = _NETWORK_INDEX[(int(match.group(1)), match.group(2))]
            rest = match.group(3)
            if match.group(2) == "pos_emb":
                rest = "pe." + rest[len("pos_enc.") :]
            name = f"network.{index}.{rest}"
        name = re.sub(r"^stem\.", "patch_embed.", name)
        name = re.sub(r"^final_conv\.", "conv_exp.", name)
        name = re.sub(r"^head\.fc\.", "head.", name)
        for timm_word, apple_word in _RENAMES:
            name = name.replace(timm_word, apple_word)
        name = re.sub(r"layer_scale(_\d)?\.gamma$", r"layer_scale\1", name)
        out["visual.trunk." + name] = value
    return out


def tiny_mobile_state_dict(seed: int = 0):
    """Random-weight state dict (timm names) of the tiny MobileFetalCLIP-family model."""
    import torch

    from fetalviewer.model.loader import build_model, register_config

    name, _ = register_config(TINY_MOBILE_CONFIG)
    torch.manual_seed(seed)
    model = build_model(name)
    with torch.no_grad():  # non-trivial BatchNorm statistics, so a mis-mapped buffer would show
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def save_authors_format(state_mobileclip_names, path: Path) -> Path:
    """Write a checkpoint the way the authors' trainer does (optimizer and scheduler entries included)."""
    import torch

    first = next(iter(state_mobileclip_names.values()))
    torch.save(
        {
            "epoch": 3,
            "state_dict": state_mobileclip_names,
            "optimizer": {"state": {0: {"step": torch.tensor(5.0), "exp_avg": torch.zeros_like(first)}},
                          "param_groups": [{"lr": 1e-4, "weight_decay": 0.1, "params": [0]}]},  # fmt: skip
            "scheduler": {"last_epoch": 3, "base_lrs": [1e-4], "_step_count": 4},
            "global_step": 120,
        },
        path,
    )
    return path


@pytest.fixture(scope="session")
def tiny_mobile_state():
    return tiny_mobile_state_dict(seed=0)


@pytest.fixture(scope="session")
def tiny_mobile_weights(tmp_path_factory, tiny_mobile_state) -> Path:
    """A tiny MobileFetalCLIP-family checkpoint in the authors' naming and training-checkpoint layout."""
    folder = tmp_path_factory.mktemp("mobile")
    return save_authors_format(to_mobileclip_names(tiny_mobile_state), folder / "mobile_fetal_clip_weights.pt")
