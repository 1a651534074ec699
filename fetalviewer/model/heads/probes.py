"""Linear probes on FetalCLIP image embeddings: the plane probe and the clip-level CHD probe.

Plane probe (FetalCLIP paper, arXiv 2502.14807; docs/fetalclip.md): ``Linear(embed_dim, C)`` on the
un-normalised projected image embedding ``model.visual(x)``; softmax over the C classes.

CHD probe: the paper embeds every frame of a heart clip, CONCATENATES the embeddings and applies one
linear layer (normal / abnormal). Clips differ in length, so a fixed-size concatenation needs
resampling; this app instead pools the embeddings of the clip's heart frames by their element-wise
mean and max, ``[mean, max]`` (2 x embed_dim), and applies ``Linear(2 x embed_dim, 2)``. That is a
documented deviation from the paper: order-free, any number of frames, and far fewer weights for the
small labelled sets a site will have. The score is the softmax probability of ``abnormal``; the
flag it drives is a prompt for expert review, never a diagnosis.
"""

from __future__ import annotations

import numpy as np

CHD_CLASSES = ("normal", "abnormal")
CHD_POOLING = "meanmax"


def pool_clip(embeddings: np.ndarray) -> np.ndarray:
    """``[N, D]`` frame embeddings of one clip -> ``[2 D]`` (mean, then max over frames)."""
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] < 1:
        raise ValueError(f"embeddings must be [N >= 1, D], got shape {emb.shape}")
    return np.concatenate([emb.mean(axis=0), emb.max(axis=0)]).astype(np.float32)


def build_linear(in_features: int, n_classes: int):
    """The probe module: a single ``torch.nn.Linear``."""
    from torch import nn

    if in_features < 1 or n_classes < 2:
        raise ValueError(f"need in_features >= 1 and n_classes >= 2, got {in_features}, {n_classes}")
    return nn.Linear(int(in_features), int(n_classes))


def softmax_np(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Macro-averaged F1 over the classes present in ``y_true`` or ``y_pred``."""
    scores = []
    for c in range(n_classes):
        tp = int(np.sum((y_pred == c) & (y_true == c)))
        fp = int(np.sum((y_pred == c) & (y_true != c)))
        fn = int(np.sum((y_pred != c) & (y_true == c)))
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def auroc(y_true: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with average ranks); None when one class is absent."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
