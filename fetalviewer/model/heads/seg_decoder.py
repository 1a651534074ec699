"""UNETR-style segmentation decoder on frozen FetalCLIP features (the FetalCLIP paper's recipe).

Decoder after Hatamizadeh et al., "UNETR: Transformers for 3D Medical Image Segmentation", WACV 2022,
in 2D as the FetalCLIP paper uses it (arXiv 2502.14807, downstream heads; docs/fetalclip.md): token maps of vision blocks
6, 8, 12, 24 (1-based, CLS dropped, ``[B, width, 16, 16]`` resized bilinearly to 14x14) and the
normalised 224x224 input image. The deepest map is upsampled 14 -> 28 -> 56 -> 112 -> 224 and at each
scale joined with a skip: block 12 raised once (28), block 8 twice (56), block 6 three times (112),
and a conv stem on the image (224). Output: ``n_classes`` logits at 224x224.

``feature_size`` 14 gives about 1.7 M parameters on the 1024-wide ViT-L/14 (the paper's "~1.6 M").
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

GRID = 14
INPUT_SIZE = 224


@dataclass(frozen=True)
class SegDecoderSpec:
    width: int
    n_blocks: int = 4
    feature_size: int = 14
    n_classes: int = 1
    grid: int = GRID
    input_size: int = INPUT_SIZE

    def __post_init__(self) -> None:
        for name in ("width", "feature_size", "n_classes", "grid", "input_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SegDecoderSpec.{name} must be a positive int, got {value!r}")
        if self.n_blocks != 4:
            raise ValueError(
                f"SegDecoderSpec.n_blocks must be 4 (UNETR uses four skips), got {self.n_blocks}"
            )
        if self.grid * 16 != self.input_size:
            raise ValueError(
                f"input_size must be 16 x grid, got grid {self.grid}, input_size {self.input_size}"
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SegDecoderSpec:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


@functools.lru_cache(maxsize=1)
def _classes():
    import torch
    from torch import nn

    def conv(cin: int, cout: int):
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.LeakyReLU(0.01, inplace=True),
        )

    def up(cin: int, cout: int):
        return nn.ConvTranspose2d(cin, cout, 2, stride=2)

    class Raise(nn.Sequential):
        """A token map raised ``n`` times by 2 (transposed conv, then conv per further step)."""

        def __init__(self, width: int, cout: int, n: int) -> None:
            layers = [up(width, cout)]
            for _ in range(n - 1):
                layers += [conv(cout, cout), up(cout, cout)]
            super().__init__(*layers, conv(cout, cout))

    class Merge(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.up = up(cin, cout)
            self.block = nn.Sequential(conv(2 * cout, cout), conv(cout, cout))

        def forward(self, x, skip):
            return self.block(torch.cat([self.up(x), skip], dim=1))

    class UnetrDecoder2D(nn.Module):
        def __init__(self, spec: SegDecoderSpec) -> None:
            super().__init__()
            f, w = spec.feature_size, spec.width
            self.spec = spec
            self.stem = nn.Sequential(conv(3, f), conv(f, f))
            self.skip2 = Raise(w, 2 * f, 3)  # block 6 -> 112
            self.skip3 = Raise(w, 4 * f, 2)  # block 8 -> 56
            self.skip4 = Raise(w, 8 * f, 1)  # block 12 -> 28
            self.bottom = nn.Sequential(
                nn.Conv2d(w, 8 * f, 1, bias=False), nn.BatchNorm2d(8 * f), nn.LeakyReLU(0.01, inplace=True)
            )  # block 24 at 14
            self.merge4 = Merge(8 * f, 8 * f)
            self.merge3 = Merge(8 * f, 4 * f)
            self.merge2 = Merge(4 * f, 2 * f)
            self.merge1 = Merge(2 * f, f)
            self.out = nn.Conv2d(f, spec.n_classes, 1)

        def forward(self, features, image):
            """``features`` [B, 4, width, grid, grid] (blocks in order), ``image`` [B, 3, 224, 224]."""
            f6, f8, f12, f24 = (features[:, i] for i in range(4))
            x = self.merge4(self.bottom(f24), self.skip4(f12))
            x = self.merge3(x, self.skip3(f8))
            x = self.merge2(x, self.skip2(f6))
            x = self.merge1(x, self.stem(image))
            return self.out(x)

    return UnetrDecoder2D


def build_seg_decoder(spec: SegDecoderSpec):
    if not isinstance(spec, SegDecoderSpec):
        raise TypeError(f"spec must be a SegDecoderSpec, got {type(spec).__name__}")
    return _classes()(spec)


def resize_token_maps(maps, grid: int = GRID):
    """``[B, K, width, g, g]`` token maps -> ``[B, K, width, grid, grid]`` (bilinear, as the paper)."""
    import torch.nn.functional as F

    b, k, w, g, _ = maps.shape
    if g == grid:
        return maps
    flat = F.interpolate(
        maps.reshape(b * k, w, g, g), size=(grid, grid), mode="bilinear", align_corners=False
    )
    return flat.reshape(b, k, w, grid, grid)
