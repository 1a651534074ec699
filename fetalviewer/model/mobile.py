"""MobileFetalCLIP checkpoints: MobileCLIP-style FastViT tensor names -> timm's ``fastvit_mci0`` names.

The published MobileFetalCLIP checkpoint (Saeed, Maani, Yaqub, arXiv 2603.05421) was trained with the
MobileCLIP (Apple) FastViT module registered under timm's model name, so its image-tower tensors are named
``visual.trunk.patch_embed.*``, ``visual.trunk.network.N.*``, ``visual.trunk.conv_exp.*`` and
``visual.trunk.head.{weight,bias}``. The app builds timm's own ``fastvit_mci0`` (same computation, different
module layout), whose names are ``stem``, ``stages.N.{downsample,pos_emb,blocks}``, ``final_conv`` and
``head.fc``. timm ships the renaming for exactly these checkpoints (``timm.models.fastvit.checkpoint_filter_fn``);
it is applied to the ``visual.trunk.`` sub-dict only. The text tower and ``logit_scale`` are named the same
in both. Loading stays strict afterwards: a tensor the checkpoint lacks or has in excess is refused by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fetalviewer.errors import WeightsMismatch

TRUNK_PREFIX = "visual.trunk."


def to_timm_names(state: Mapping[str, Any], model, source: str = "checkpoint") -> dict[str, Any]:
    """``state`` with its ``visual.trunk.`` tensors renamed by timm's FastViT checkpoint filter.

    ``model`` is the open_clip model being loaded (meta tensors are fine): the filter looks at its trunk.
    """
    from timm.models.fastvit import checkpoint_filter_fn

    trunk = {k[len(TRUNK_PREFIX) :]: v for k, v in state.items() if k.startswith(TRUNK_PREFIX)}
    rest = {k: v for k, v in state.items() if not k.startswith(TRUNK_PREFIX)}
    try:
        mapped = checkpoint_filter_fn(trunk, model.visual.trunk)
    except Exception as exc:  # noqa: BLE001 - a malformed tower must become a message, not a traceback
        raise WeightsMismatch(f"{source}: the FastViT image-tower tensor names could not be mapped ({exc})") from exc
    out = {TRUNK_PREFIX + k: v for k, v in mapped.items()}
    clash = sorted(set(out) & set(rest))
    if clash:
        raise WeightsMismatch(f"{source}: image-tower tensors named twice after renaming: {', '.join(clash[:5])}")
    out.update(rest)
    return out


__all__ = ["TRUNK_PREFIX", "to_timm_names"]
