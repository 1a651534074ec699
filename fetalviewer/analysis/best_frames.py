"""Best frame per plane for the workspace: the frame with the highest probability of each plane."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class BestFrame:
    """``key`` identifies the frame (e.g. ``(sop_instance_uid, frame_index)``), ``prob_0_1`` its score."""

    plane: str
    key: Hashable
    prob_0_1: float


def best_frames(
    frames: Iterable[tuple[Hashable, Mapping[str, float]]],
    *,
    min_prob_0_1: float = 0.0,
    top_only: bool = False,
) -> dict[str, BestFrame]:
    """For each plane, the frame with the highest probability of that plane.

    ``frames`` yields ``(key, plane_probs)``. Ties keep the earliest frame. Planes whose best
    probability is below ``min_prob_0_1`` are left out. With ``top_only`` a frame counts for a plane
    only when that plane is its top class (so an abdomen frame is never the "best heart frame").
    """
    if not 0.0 <= min_prob_0_1 <= 1.0:
        raise ValueError(f"min_prob_0_1 must lie in [0, 1], got {min_prob_0_1!r}")
    best: dict[str, BestFrame] = {}
    for key, probs in frames:
        if not probs:
            continue
        top = max(probs, key=probs.__getitem__)
        for plane, p in probs.items():
            p = float(p)
            if not math.isfinite(p):
                raise ValueError(f"probability of {plane!r} for frame {key!r} is not finite")
            if top_only and plane != top:
                continue
            if p >= min_prob_0_1 and (plane not in best or p > best[plane].prob_0_1):
                best[plane] = BestFrame(plane, key, p)
    return best
