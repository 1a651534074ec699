"""Clip-level CHD review prompt for ``fetalviewer analyze`` and ``fetalviewer report`` (Qt-free).

FetalCLIP's CHD probe (arXiv 2502.14807, downstream heads; docs/fetalclip.md) scores a whole heart clip from its frames'
image embeddings; this app's probe pools the UN-normalised projected embeddings of the clip's heart
frames (:mod:`fetalviewer.model.heads.probes`). Here:

* :func:`heart_frames` picks the frames of a clip that the model labels ``heart`` (top plane) and their
  embeddings;
* :func:`clip_chd_block` scores them with the installed CHD head that fits the loaded backbone
  (:func:`fetalviewer.model.heads.select.chd_score_for_clip`, run on the model's worker thread through
  ``run_on_model``) and words the result with :func:`fetalviewer.analysis.chd.chd_review`: a prompt for
  expert review ("CHD review suggested"), never a diagnosis. Without weights, without a head, with a
  head for another backbone, or without heart frames, the block says why there is no score.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

HEART_PLANE = "heart"
VALUE_SOURCE = (
    "model output (trained FetalCLIP CHD head on the clip's heart frames; a prompt for expert review, "
    "not a diagnosis)"
)
NO_WEIGHTS_REASON = "no FetalCLIP weights loaded: the CHD head works on FetalCLIP frame embeddings"


def chd_head_files() -> list[str]:
    """Names of the installed CHD head files (any backbone), user folder first."""
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.model.heads.headfile import HEAD_SUFFIX, head_dirs, read_header

    names = []
    for folder in head_dirs():
        for path in sorted(folder.glob(f"*{HEAD_SUFFIX}")) if folder.is_dir() else ():
            try:
                if read_header(path).kind == "chd":
                    names.append(path.name)
            except FetalViewerError:  # an unreadable head file is not a CHD head
                continue
    return names


def heart_frames(frames: Sequence[Any]) -> tuple[list[int], np.ndarray | None]:
    """(frame indices, [N, D] embeddings) of the frames whose model top plane is heart.

    ``frames`` are objects with ``frame_index``, ``prediction`` (a FramePrediction or None) and
    ``embedding`` (the un-normalised [D] embedding or None), e.g. analyze's ``FrameContext``.
    """
    return heart_rows(
        [getattr(f, "prediction", None) for f in frames], [getattr(f, "embedding", None) for f in frames]
    )


def heart_rows(predictions: Sequence[Any], embeddings: Any) -> tuple[list[int], np.ndarray | None]:
    """Like :func:`heart_frames` from parallel sequences of predictions and un-normalised embeddings
    (frames without a prediction or an embedding are skipped)."""
    if embeddings is None:
        embeddings = [None] * len(predictions)
    if len(predictions) != len(embeddings):
        raise ValueError(f"{len(predictions)} predictions but {len(embeddings)} embeddings")
    used, rows = [], []
    for pred, emb in zip(predictions, embeddings, strict=True):
        if pred is None or emb is None or pred.top_plane != HEART_PLANE:
            continue
        used.append(int(pred.frame_index or 0))
        rows.append(np.asarray(emb, dtype=np.float32).reshape(-1))
    return used, (np.stack(rows) if rows else None)


def _head_provenance(score) -> dict[str, Any]:
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.model.heads.headfile import read_header

    out = {
        "head_file": score.head_file,
        "head_sha256": score.head_sha256,
        "threshold_0_1": score.threshold_0_1,
    }
    try:
        header = read_header(score.head_file)
    except FetalViewerError:
        return out
    out.update(
        created_utc=header.created_utc,
        validation=dict(header.validation),
        backbone=header.backbone.describe(),
        pooling=header.architecture.get("pooling"),
    )
    return out


def clip_chd_block(
    used_frames: Sequence[int],
    heart_embeddings: np.ndarray | None,
    run_on_model: Callable[[Callable[[Any], Any]], Any] | None,
    model_unavailable_reason: str | None = None,
) -> dict[str, Any]:
    """The CHD block of one clip (JSON-ready): ``chd_*`` fields of
    :func:`fetalviewer.analysis.frame_biometry.chd_fields` plus ``chd_scope`` ("clip"),
    ``chd_frames_used`` (0-based frame indices) and ``chd_head`` (provenance, or None)."""
    from fetalviewer.analysis.chd import chd_review
    from fetalviewer.analysis.frame_biometry import chd_fields
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.model.heads.select import chd_score_for_clip

    used = [int(i) for i in used_frames]

    def block(fields: dict[str, Any], head: dict | None = None) -> dict[str, Any]:
        return {**fields, "chd_scope": "clip", "chd_frames_used": used, "chd_head": head}

    if run_on_model is None:
        why = NO_WEIGHTS_REASON
        if model_unavailable_reason:
            why += f" ({model_unavailable_reason})"
        return block(chd_fields(None, why))
    if not chd_head_files():
        return block(chd_fields(chd_review(None, len(used), head_installed=False)))
    if not used or heart_embeddings is None:
        return block(chd_fields(chd_review(None, 0)))
    try:
        score, note = run_on_model(lambda loaded: chd_score_for_clip(heart_embeddings, loaded))
    except (FetalViewerError, ValueError, RuntimeError) as exc:
        log.warning("CHD head failed: %s", exc)
        return block(chd_fields(None, f"the CHD head could not score this clip: {exc}"))
    if score is None:  # e.g. the installed head was trained for another backbone
        return block(chd_fields(None, note))
    review = chd_review(score.prob_abnormal_0_1, len(used), threshold_0_1=score.threshold_0_1)
    fields = chd_fields(review)
    fields["chd_value_source"] = VALUE_SOURCE
    return block(fields, _head_provenance(score))


def report_flag_text(source: str, block: dict[str, Any]) -> str | None:
    """One line for a report's CHD section, or None when the clip got no score."""
    if block.get("chd_review_flag") is None:
        return None
    head = block.get("chd_head") or {}
    from fetalviewer.analysis.frame_numbers import frame_number

    frames = ", ".join(str(frame_number(i)) for i in block.get("chd_frames_used", []))  # 1-based, for people
    name = head.get("head_file", "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return f"{source}: {block['chd_text']} [heart frames {frames}; head {name}]"
