"""Which head runs: a trained FetalCLIP-feature head when one fits the loaded backbone, else the default.

* Head segmentation: :func:`segment_head_auto` uses an installed ``seg`` head whose structure is
  ``head`` and whose backbone matches ``loaded`` (FetalCLIP weights loaded); otherwise the project's
  default HC18 U-Net (:func:`fetalviewer.model.heads.default_head.segment_head`), which needs no
  FetalCLIP weights. The note says which ran and why.
* CHD: :func:`chd_score_for_clip` scores a clip from the un-normalised embeddings of its heart frames
  with the installed ``chd`` head, or returns ``None`` and the reason (no weights, no head, no heart
  frames, head for another backbone).
* Planes: :func:`installed_plane_probe` gives the installed plane probe or ``None`` and the reason.

Loaded heads are cached per (file, modification time) so a newly trained head is picked up.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from fetalviewer.errors import FetalViewerError
from fetalviewer.model.heads.backbone import BackboneSpec
from fetalviewer.model.heads.default_head import HeadSegmentation, segment_head
from fetalviewer.model.heads.headfile import find_head

HEAD_STRUCTURE = "head"


@functools.lru_cache(maxsize=8)
def _load(kind: str, path: str, mtime_ns: int, backbone: BackboneSpec):
    from fetalviewer.model.heads.runtime import ChdProbe, PlaneProbe, SegHead

    return {"seg": SegHead, "chd": ChdProbe, "plane": PlaneProbe}[kind](path, backbone)


def _installed(kind: str, loaded):
    """``(head object, note)`` or ``(None, reason)``."""
    backbone = None if loaded is None else BackboneSpec.from_loaded(loaded)
    choice = find_head(kind, backbone)
    if choice.path is None:
        return None, choice.reason
    try:
        head = _load(kind, str(choice.path), choice.path.stat().st_mtime_ns, backbone)
    except FetalViewerError as exc:
        return None, str(exc)
    return head, f"installed head {Path(choice.path).name}"


def segment_head_auto(
    image: np.ndarray, region: object | None = None, loaded=None
) -> tuple[HeadSegmentation, str]:
    """Segment the skull region with the best available model; ``(segmentation, which model and why)``."""
    head, note = _installed("seg", loaded)
    if head is not None and head.class_names == (HEAD_STRUCTURE,):
        return head.segment(loaded, image, region), f"FetalCLIP segmentation head ({note})"
    if head is not None:
        note = f"the installed seg head segments '{head.class_names[0]}', not '{HEAD_STRUCTURE}'"
    return segment_head(image, region), f"default head model (no FetalCLIP head used: {note})"


def chd_score_for_clip(heart_frame_embeddings: np.ndarray | None, loaded=None):
    """``(ChdScore, note)`` or ``(None, reason)`` for one clip."""
    if loaded is None:
        return None, "no FetalCLIP weights loaded: the CHD head works on FetalCLIP frame embeddings"
    emb = None if heart_frame_embeddings is None else np.asarray(heart_frame_embeddings)
    if emb is None or emb.ndim != 2 or emb.shape[0] == 0:
        return None, "no heart frames in this clip"
    head, note = _installed("chd", loaded)
    if head is None:
        return None, note
    return head.score(emb), note


def installed_plane_probe(loaded=None):
    """``(PlaneProbe, note)`` or ``(None, reason)``."""
    return _installed("plane", loaded)
