"""Best frame per plane and the exam checklist, from the zero-shot plane probabilities of a study.

The best frame of a plane is the analysed frame with the highest probability for that plane over all
instances of the exam. A standard plane is "found" when its best frame reaches the checklist threshold
(the user's ``uncertain_threshold_0_1``). The standard fetal planes follow the ISUOG mid-trimester
practice guideline (Salomon et al., UOG 2011; 2022 update) as far as FetalCLIP's classes express them; the
maternal cervix is listed but optional.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fetalviewer.workspace.results import InstanceAnalysis

#: Fetal planes expected in a complete mid-trimester survey (FetalCLIP class keys).
STANDARD_PLANES: tuple[str, ...] = (
    "brain",
    "lips_nose",
    "profile_patient",
    "heart",
    "abdomen",
    "kidney",
    "spine",
    "femur",
)
#: Planes shown in the checklist but not required.
OPTIONAL_PLANES: tuple[str, ...] = ("cervix",)


@dataclass(frozen=True)
class BestFrame:
    """The frame with the highest model probability for one plane."""

    plane_key: str
    sop_instance_uid: str
    frame_index: int
    prob_0_1: float


@dataclass(frozen=True)
class ChecklistItem:
    """One line of the exam checklist."""

    plane_key: str
    required: bool
    found: bool
    best: BestFrame | None


def best_frames(analyses: Mapping[str, InstanceAnalysis]) -> dict[str, BestFrame]:
    """Per plane key, the analysed frame with the highest probability (planes never seen are absent)."""
    best: dict[str, BestFrame] = {}
    for uid, analysis in analyses.items():
        idx = np.flatnonzero(analysis.done)
        if idx.size == 0:
            continue
        probs = analysis.plane_probs[idx]
        for p, key in enumerate(analysis.plane_keys):
            j = int(np.argmax(probs[:, p]))
            prob = float(probs[j, p])
            if key not in best or prob > best[key].prob_0_1:
                best[key] = BestFrame(key, uid, int(idx[j]), prob)
    return best


def exam_checklist(
    best: Mapping[str, BestFrame],
    threshold_0_1: float,
    required: Sequence[str] = STANDARD_PLANES,
    optional: Sequence[str] = OPTIONAL_PLANES,
) -> list[ChecklistItem]:
    """Found/missing per plane: found when the best frame's probability is at least ``threshold_0_1``."""
    if not 0.0 <= threshold_0_1 <= 1.0:
        raise ValueError(f"threshold_0_1 must be in [0, 1], got {threshold_0_1}")
    items = []
    for key, is_required in [(k, True) for k in required] + [(k, False) for k in optional]:
        frame = best.get(key)
        found = frame is not None and frame.prob_0_1 >= threshold_0_1
        items.append(ChecklistItem(key, is_required, found, frame))
    return items
