"""Clip-level CHD review prompt from a trained CHD head's scores on the heart frames of a clip.

FetalCLIP's CHD probe (arXiv 2502.14807, downstream heads; docs/fetalclip.md) scores a whole heart clip from its frames'
embeddings; the engine's head returns either one clip score or one score per frame. This module turns
that into a flag worded as a *prompt for expert review*, never as a diagnosis, and says why when no
flag can be given (no head installed, no heart frames). Pure functions: no model, no Qt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_CHD_THRESHOLD_0_1 = 0.5
NO_HEAD_REASON = (
    "no CHD head is installed; train one on your own labelled heart clips with "
    "'fetalviewer train-head chd ...' (see 'fetalviewer train-head --help')"
)
REVIEW_TEXT = (
    "CHD review suggested: consider expert fetal echocardiography review (decision support, not a diagnosis)"
)
NO_REVIEW_TEXT = "No CHD review prompt from the model (this does not exclude a heart defect)"


@dataclass(frozen=True)
class ChdReview:
    """``flag`` True = review suggested, False = no prompt, None = unavailable (``reason`` says why)."""

    flag: bool | None
    score_0_1: float | None
    threshold_0_1: float
    n_heart_frames: int
    text: str
    reason: str | None = None
    method: str = "FetalCLIP CHD linear probe (clip level)"

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _check_prob(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return v


def clip_chd_score(
    frame_scores_0_1: Sequence[float], is_heart_frame: Sequence[bool] | None = None
) -> float | None:
    """Mean CHD score over the clip's heart frames (all frames when ``is_heart_frame`` is None).

    The mean of per-frame scores is the clip-level aggregation used here for a head that scores frames;
    a head that scores the whole clip should pass its one score to :func:`chd_review` directly.
    """
    scores = [_check_prob("frame_scores_0_1[i]", s) for s in frame_scores_0_1]
    if is_heart_frame is not None:
        if len(is_heart_frame) != len(scores):
            raise ValueError(
                f"is_heart_frame has {len(is_heart_frame)} entries for {len(scores)} frame scores"
            )
        scores = [s for s, heart in zip(scores, is_heart_frame, strict=True) if heart]
    return sum(scores) / len(scores) if scores else None


def chd_review(
    head_score_0_1: float | None,
    n_heart_frames: int,
    *,
    head_installed: bool = True,
    threshold_0_1: float = DEFAULT_CHD_THRESHOLD_0_1,
    min_heart_frames: int = 1,
) -> ChdReview:
    """The review prompt for one clip from the CHD head's clip score.

    Unavailable (``flag=None``) when no head is installed, when the clip has fewer than
    ``min_heart_frames`` heart frames, or when there is no score.
    """
    threshold = _check_prob("threshold_0_1", threshold_0_1)
    if isinstance(n_heart_frames, bool) or not isinstance(n_heart_frames, int) or n_heart_frames < 0:
        raise ValueError(f"n_heart_frames must be an int >= 0, got {n_heart_frames!r}")

    def unavailable(reason: str) -> ChdReview:
        return ChdReview(None, None, threshold, n_heart_frames, f"CHD review unavailable: {reason}", reason)

    if not head_installed:
        return unavailable(NO_HEAD_REASON)
    if n_heart_frames < min_heart_frames:
        return unavailable(
            f"the clip has {n_heart_frames} heart frame(s); at least {min_heart_frames} needed"
        )
    if head_score_0_1 is None:
        return unavailable("the CHD head gave no score for this clip")
    score = _check_prob("head_score_0_1", head_score_0_1)
    flag = score >= threshold
    text = f"{REVIEW_TEXT if flag else NO_REVIEW_TEXT} (score {score:.2f}, threshold {threshold:.2f})"
    return ChdReview(flag, score, threshold, n_heart_frames, text)
