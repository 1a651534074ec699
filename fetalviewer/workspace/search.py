"""Free-text search over the analysed frames of a study: rank frames by image-text cosine similarity.

Both embeddings are L2-normalised (FetalCLIP image and text towers, arXiv 2502.14807), so the score is the cosine
``image_embedding . text_embedding`` in [-1, 1]. Consecutive frames of a cine are nearly identical, so hits
within ``min_separation_frames`` of a better hit of the same instance are suppressed (the user sees distinct
moments rather than ten neighbours of one frame).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from fetalviewer.workspace.results import InstanceAnalysis


@dataclass(frozen=True)
class SearchHit:
    """One ranked frame: where it is and its cosine similarity with the query."""

    rank: int
    sop_instance_uid: str
    frame_index: int
    score_cos: float


def search_frames(
    text_embedding: np.ndarray,
    analyses: Mapping[str, InstanceAnalysis],
    top_k: int = 10,
    min_separation_frames: int = 5,
) -> list[SearchHit]:
    """Rank the analysed frames of ``analyses`` by cosine with ``text_embedding`` (best first)."""
    query = np.asarray(text_embedding, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(query))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("text_embedding must be a non-zero finite vector")
    if top_k < 1:
        raise ValueError(f"top_k must be positive, got {top_k}")
    if min_separation_frames < 0:
        raise ValueError(f"min_separation_frames must be >= 0, got {min_separation_frames}")
    query = query / norm
    candidates: list[tuple[float, str, int]] = []
    for uid, analysis in analyses.items():
        if analysis.embed_dim != query.size:
            raise ValueError(
                f"text_embedding has {query.size} values, instance {uid} embeddings have {analysis.embed_dim}"
            )
        idx = np.flatnonzero(analysis.done)
        if idx.size == 0:
            continue
        scores = analysis.embeddings[idx] @ query
        candidates.extend((float(s), uid, int(i)) for s, i in zip(scores, idx, strict=True))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    hits: list[SearchHit] = []
    taken: dict[str, list[int]] = {}
    for score, uid, frame in candidates:
        if any(abs(frame - other) < min_separation_frames for other in taken.get(uid, ())):
            continue
        taken.setdefault(uid, []).append(frame)
        hits.append(SearchHit(len(hits) + 1, uid, frame, score))
        if len(hits) == top_k:
            break
    return hits
