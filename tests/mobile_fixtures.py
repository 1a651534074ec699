"""Tiny MobileFetalCLIP-family checkpoints for tests, written in the authors' (MobileCLIP-style) key naming.

The tiny config (written by :func:`tiny_mobile_config_path`) has MobileFetalCLIP's structure with narrow
layers: a FastViT MCi0-shaped image tower (four stages, RepMixer then attention with a conditional
position encoding, SE in the last two downsamplers, 256 px) with 2 blocks per stage and widths 16..128,
registered with timm here as ``fastvit_mci0_narrow_test``, and a bidirectional text tower (width 32, 2
layers, context 117). The checkpoint is written the way the authors' trainer writes it: ``{"epoch",
"state_dict", "optimizer", "scheduler", "global_step"}``, no ``module.`` prefix, image-tower names in the
MobileCLIP naming. Those names are made here by inverting timm's renaming for this architecture (test only).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest

NARROW_TIMM_NAME = "fastvit_mci0_narrow_test"
_TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"timm_model_name": NARROW_TIMM_NAME, "timm_model_pretrained": False, "timm_pool": "avg",
                   "timm_proj": None, "timm_drop": 0.0, "timm_drop_path": 0.0, "image_size": 256},
    "text_cfg": {"context_length": 117, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2,
                 "no_causal_mask": True},
    "custom_text": True,
    "preprocess_cfg": {"size": 256, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                       "interpolation": "bicubic"},
}  # fmt: skip


def register_narrow_fastvit() -> None:
    """Register the narrow MCi0-shaped FastViT with timm (once per process)."""
    from functools import partial

    import timm
    from timm.models import fastvit, register_model

    if timm.is_model(NARROW_TIMM_NAME):
        return

    def fastvit_mci0_narrow_test(pretrained=False, **kwargs):
        args = dict(layers=(2, 2, 2, 2), embed_dims=(16, 32, 64, 128), mlp_ratios=(3, 3, 3, 3),
                    se_downsamples=(False, False, True, True),
                    pos_embs=(None, None, None, partial(fastvit.RepConditionalPosEnc, spatial_shape=(7, 7))),
                    token_mixers=("repmixer", "repmixer", "repmixer", "attention"), lkc_use_act=True)  # fmt: skip
        return fastvit._create_fastvit("fastvit_mci0", pretrained=False, **dict(args, **kwargs))

    register_model(fastvit_mci0_narrow_test)


def tiny_mobile_config_path() -> Path:
    """The tiny MobileFetalCLIP-family config file (written once per process; the narrow tower registered)."""
    register_narrow_fastvit()
    path = Path(tempfile.gettempdir()) / "fetalviewer-tests" / "MobileFetalCLIP_tiny_test.json"
    text = json.dumps(_TINY_CONFIG, indent=1)
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{id(text)}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path


TINY_MOBILE_CONFIG = tiny_mobile_config_path()
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
