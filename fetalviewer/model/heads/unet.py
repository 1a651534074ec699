"""A compact U-Net for the default head segmentation model (no FetalCLIP needed).

Architecture after Ronneberger, Fischer and Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015 (encoder-decoder with skip connections), made small for CPU use: each
level is two 3x3 conv + BatchNorm + ReLU blocks, 2x2 max-pool down, bilinear up + 1x1 conv, and the
channel widths double per level from ``base_channels``. One output channel holds the skull-region logit.

torch is imported lazily: :func:`build_unet` creates the module classes on first use.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class UNetSpec:
    """Architecture hyper-parameters, stored beside the weights so a file says what it holds."""

    in_channels: int = 1
    out_channels: int = 1
    base_channels: int = 16
    depth: int = 4

    def __post_init__(self) -> None:
        for name in ("in_channels", "out_channels", "base_channels", "depth"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"UNetSpec.{name} must be a positive int, got {value!r}")
        if self.depth > 6:
            raise ValueError(f"UNetSpec.depth must be <= 6, got {self.depth}")

    @property
    def input_multiple(self) -> int:
        """The input side must be a multiple of this (one halving per level)."""
        return 2**self.depth

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> UNetSpec:
        if not isinstance(data, dict):
            raise TypeError(f"UNetSpec.from_dict expects a dict, got {type(data).__name__}")
        known = {k: data[k] for k in ("in_channels", "out_channels", "base_channels", "depth") if k in data}
        return cls(**known)


@functools.lru_cache(maxsize=1)
def _classes():
    import torch
    from torch import nn

    class ConvBlock(nn.Sequential):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            )

    class Up(nn.Module):
        def __init__(self, cin: int, cskip: int, cout: int) -> None:
            super().__init__()
            self.reduce = nn.Conv2d(cin, cskip, 1)
            self.block = ConvBlock(2 * cskip, cout)

        def forward(self, x, skip):
            x = nn.functional.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            return self.block(torch.cat([self.reduce(x), skip], dim=1))

    class SmallUNet(nn.Module):
        def __init__(self, spec: UNetSpec) -> None:
            super().__init__()
            widths = [spec.base_channels * 2**i for i in range(spec.depth + 1)]
            self.stem = ConvBlock(spec.in_channels, widths[0])
            self.downs = nn.ModuleList(ConvBlock(widths[i], widths[i + 1]) for i in range(spec.depth))
            self.ups = nn.ModuleList(
                Up(widths[i + 1], widths[i], widths[i]) for i in reversed(range(spec.depth))
            )
            self.head = nn.Conv2d(widths[0], spec.out_channels, 1)
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            skips = [self.stem(x)]
            for down in self.downs:
                skips.append(down(self.pool(skips[-1])))
            x = skips.pop()
            for up in self.ups:
                x = up(x, skips.pop())
            return self.head(x)

    return SmallUNet


def build_unet(spec: UNetSpec):
    """A fresh, randomly initialised :class:`SmallUNet` for ``spec`` (a ``torch.nn.Module``)."""
    if not isinstance(spec, UNetSpec):
        raise TypeError(f"spec must be a UNetSpec, got {type(spec).__name__}")
    return _classes()(spec)
