"""Which FetalCLIP backbone a head was trained on, and the frozen features the heads read.

A head only makes sense on the exact features it was trained on, so every head file records a
:class:`BackboneSpec` (config name, embedding width, vision width/depth/patch/image size and the
sha256 of the weights file) and :func:`check_backbone` refuses a head whose backbone differs from the
loaded one. Features come from the model engine's
:meth:`fetalviewer.model.loader.LoadedModel.encode_image_with_blocks` (one forward pass: the
un-normalised projected image embedding and the token maps of the requested vision blocks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from fetalviewer.errors import WeightsMismatch

#: The FetalCLIP paper's segmentation blocks (1-based) for the 24-block ViT-L/14.
PAPER_SEG_BLOCKS: tuple[int, ...] = (6, 8, 12, 24)


@dataclass(frozen=True)
class BackboneSpec:
    """The identity of a FetalCLIP-family image encoder, as far as a head depends on it."""

    config_name: str
    embed_dim: int
    vision_width: int
    vision_layers: int
    patch_size: int
    image_size: int
    weights_sha256: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.config_name, str) or not self.config_name:
            raise ValueError(f"config_name must be a non-empty str, got {self.config_name!r}")
        for name in ("embed_dim", "vision_width", "vision_layers", "patch_size", "image_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.weights_sha256 is not None and len(self.weights_sha256) != 64:
            raise ValueError("weights_sha256 must be a 64-character hex digest or None")

    @property
    def grid(self) -> int:
        """Token grid side of the vision tower (16 for ViT-L/14 at 224)."""
        return self.image_size // self.patch_size

    def describe(self) -> str:
        sha = f", weights sha256 {self.weights_sha256[:12]}..." if self.weights_sha256 else ""
        return (
            f"{self.config_name} (embed {self.embed_dim}, vision {self.vision_layers}x{self.vision_width}, "
            f"patch {self.patch_size} at {self.image_size} px{sha})"
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> BackboneSpec:
        if not isinstance(data, dict):
            raise TypeError(f"backbone must be a dict, got {type(data).__name__}")
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__ if k in data})

    @classmethod
    def from_config(cls, config_name: str, config: dict, weights_sha256: str | None = None) -> BackboneSpec:
        """From an open_clip model config dict (``embed_dim``, ``vision_cfg``).

        A timm image tower (MobileFetalCLIP's FastViT MCi0) has no ViT width/depth/patch: it is recorded
        with width = embed_dim, one layer and patch 32 (its output stride); the config name and the
        weights sha256 identify it."""
        vision = config["vision_cfg"]
        if "timm_model_name" in vision:
            embed = int(config["embed_dim"])
            return cls(str(config_name), embed, embed, 1, 32, int(vision.get("image_size", 256)), weights_sha256)
        return cls(
            config_name=str(config_name),
            embed_dim=int(config["embed_dim"]),
            vision_width=int(vision["width"]),
            vision_layers=int(vision["layers"]),
            patch_size=int(vision["patch_size"]),
            image_size=int(vision["image_size"]),
            weights_sha256=weights_sha256,
        )

    @classmethod
    def from_loaded(cls, loaded) -> BackboneSpec:
        """From a :class:`fetalviewer.model.loader.LoadedModel`."""
        return cls.from_config(loaded.model_name, loaded.config, loaded.info.weights_sha256)


def check_backbone(head_backbone: BackboneSpec, loaded: BackboneSpec, head_path: object) -> None:
    """Raise WeightsMismatch, naming the head file, unless the head fits the loaded backbone.

    The architecture must match exactly; when both sides know the weights' sha256, it must match
    too (features of other weights, even of the same architecture, are different features).
    """
    fields = ("embed_dim", "vision_width", "vision_layers", "patch_size", "image_size")
    differs = [f for f in fields if getattr(head_backbone, f) != getattr(loaded, f)]
    if (
        head_backbone.weights_sha256
        and loaded.weights_sha256
        and head_backbone.weights_sha256 != loaded.weights_sha256
    ):
        differs.append("weights_sha256")
    if differs:
        raise WeightsMismatch(
            f"{head_path}: this head was trained for another backbone ({', '.join(differs)} differ): "
            f"head expects {head_backbone.describe()}, loaded model is {loaded.describe()}. "
            "Retrain it with 'fetalviewer train-head' on these weights."
        )


def default_seg_blocks(vision_layers: int) -> tuple[int, ...]:
    """The paper's blocks 6, 8, 12, 24 of 24, scaled to a backbone of another depth (>= 8 blocks)."""
    if vision_layers == 24:
        return PAPER_SEG_BLOCKS
    blocks = tuple(max(1, min(vision_layers, round(vision_layers * b / 24))) for b in PAPER_SEG_BLOCKS)
    if len(set(blocks)) != len(blocks):
        raise ValueError(f"a backbone of {vision_layers} vision blocks is too shallow for a 4-level decoder")
    return blocks


def embed_frames(loaded, frames: Sequence[np.ndarray], batch_size: int = 16) -> np.ndarray:
    """Un-normalised projected image embeddings ``[N, embed_dim]`` (float32) of uint8 frames."""
    from fetalviewer.model.preprocess import preprocess_batch

    out = []
    for start in range(0, len(frames), batch_size):
        pixels = preprocess_batch(list(frames[start : start + batch_size]))
        out.append(loaded.encode_image(pixels, normalize=False).cpu().numpy().astype(np.float32))
    if not out:
        return np.zeros((0, int(loaded.embed_dim)), np.float32)
    return np.concatenate(out)


def block_features(loaded, pixels, blocks: Sequence[int]):
    """Token maps of ``blocks`` stacked as ``[B, len(blocks), width, grid, grid]`` (float32 tensor)."""
    import torch

    _, maps = loaded.encode_image_with_blocks(pixels, blocks)
    return torch.stack([maps[b] for b in blocks], dim=1).float().cpu()
