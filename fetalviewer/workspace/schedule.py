"""Order in which the frames of a study are analysed: a coarse first pass over every cine, then refinement.

The first pass takes every k-th frame of each instance (k chosen so each cine gets about
``first_pass_frames`` frames, the last frame included), so the whole timeline of every instance shows values
early. The fill pass then halves the stride level by level (k/2, k/4, ... 1), so the timeline's resolution
improves evenly instead of left to right.
"""

from __future__ import annotations

import math


def first_pass_stride(n_frames: int, first_pass_frames: int) -> int:
    """Stride k so that frames 0, k, 2k, ... number about ``first_pass_frames``."""
    if n_frames < 1:
        raise ValueError(f"n_frames must be positive, got {n_frames}")
    if first_pass_frames < 1:
        raise ValueError(f"first_pass_frames must be positive, got {first_pass_frames}")
    return max(1, math.ceil(n_frames / first_pass_frames))


def first_pass_indices(n_frames: int, stride: int) -> list[int]:
    """Frames 0, k, 2k, ... and the last frame."""
    if stride < 1:
        raise ValueError(f"stride must be positive, got {stride}")
    indices = list(range(0, n_frames, stride))
    if indices[-1] != n_frames - 1:
        indices.append(n_frames - 1)
    return indices


def refinement_indices(n_frames: int, stride: int) -> list[int]:
    """Every frame not in the first pass, coarse to fine (stride halved at each level)."""
    seen = set(first_pass_indices(n_frames, stride))
    order: list[int] = []
    level = stride
    while level > 1:
        level = max(1, level // 2)
        for i in range(0, n_frames, level):
            if i not in seen:
                seen.add(i)
                order.append(i)
    order.extend(i for i in range(n_frames) if i not in seen)
    return order


def batches(indices: list[int], batch_size: int) -> list[list[int]]:
    """Split ``indices`` into consecutive batches of at most ``batch_size``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
