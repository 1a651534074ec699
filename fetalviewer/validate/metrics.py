"""Classification figures as the FetalCLIP authors compute them (numpy only).

Definitions (torchmetrics multiclass, ``average=None``, top-1 unless said):

* F1 of class c = 2 TP / (2 TP + FP + FN), 0 when that denominator is 0;
* accuracy of class c = TP / (TP + FN) (recall); top-k accuracy of class c = share of its images whose
  true class is among the k most probable;
* the summary figure of each is the mean over the classes PRESENT in the true labels, the per-class
  values being computed over all outputs (9 planes, 3 brain sub-planes), so a prediction of an absent
  class (e.g. ``kidney``) still costs F1 of the true class;
* bootstrap 95 % intervals: images resampled with replacement, 10,000 times, numpy
  ``default_rng(seed=42)``, per-class F1 per resample, 2.5th / 97.5th percentiles (Efron & Tibshirani,
  An Introduction to the Bootstrap, 1993, percentile method).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 42


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """[n, n] counts, rows = true class, columns = predicted class."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of one length, got {t.shape} and {p.shape}")
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def f1_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Per-class F1 of one [n, n] matrix or a stack [..., n, n]; 0 where 2TP+FP+FN is 0."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    fp = cm.sum(axis=-2) - tp
    fn = cm.sum(axis=-1) - tp
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def recall_from_confusion(cm: np.ndarray) -> np.ndarray:
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diagonal(cm)
    support = cm.sum(axis=1)
    return np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)


def topk_recall(probs: np.ndarray, y_true: np.ndarray, k: int) -> np.ndarray:
    """Per-class share of images whose true class is among the ``k`` most probable classes."""
    probs = np.asarray(probs, dtype=np.float64)
    t = np.asarray(y_true, dtype=np.int64)
    n_classes = probs.shape[1]
    topk = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    hit = (topk == t[:, None]).any(axis=1)
    support = np.bincount(t, minlength=n_classes).astype(np.float64)
    hits = np.bincount(t, weights=hit.astype(np.float64), minlength=n_classes)
    return np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)


@dataclass(frozen=True)
class ClassificationFigures:
    classes: tuple[str, ...]
    present: tuple[str, ...]
    n_images: int
    macro_f1: float
    per_class_f1: dict[str, float]
    accuracy: float  # mean per-class accuracy over the present classes (the authors' "acc")
    per_class_accuracy: dict[str, float]
    overall_accuracy: float  # share of images right (micro)
    top_k: dict[int, float]  # k -> mean per-class top-k accuracy over present classes
    confusion: list[list[int]]
    ci95: dict[str, Any]  # {"macro_f1": [lo, hi], "per_class_f1": {name: [lo, hi]}}

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "present_classes": list(self.present),
            "n_images": self.n_images,
            "macro_f1": self.macro_f1,
            "per_class_f1": dict(self.per_class_f1),
            "accuracy": self.accuracy,
            "per_class_accuracy": dict(self.per_class_accuracy),
            "overall_accuracy": self.overall_accuracy,
            "top_k_accuracy": {str(k): v for k, v in self.top_k.items()},
            "confusion_matrix": self.confusion,
            "ci95": self.ci95,
        }


def bootstrap_f1(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_classes: int,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """(per-class F1 [resamples, n], macro F1 over the classes present in each resample's labels [resamples])."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    rng = np.random.default_rng(seed=seed)
    n = len(t)
    k2 = n_classes * n_classes
    codes = t * n_classes + p
    per_class = np.empty((resamples, n_classes))
    macro = np.empty(resamples)
    chunk = max(1, min(resamples, 2_000_000 // max(n, 1)))  # bounded memory; same draws as one call each
    for start in range(0, resamples, chunk):
        m = min(chunk, resamples - start)
        idx = rng.integers(0, n, size=(m, n))
        flat = (codes[idx] + (np.arange(m) * k2)[:, None]).ravel()
        cms = np.bincount(flat, minlength=m * k2).reshape(m, n_classes, n_classes)
        f1 = f1_from_confusion(cms)
        present = cms.sum(axis=2) > 0
        per_class[start : start + m] = f1
        macro[start : start + m] = (f1 * present).sum(axis=1) / present.sum(axis=1)
    return per_class, macro


def classification_figures(
    y_true: Sequence[int],
    probs: np.ndarray,
    classes: Sequence[str],
    top_ks: Sequence[int] = (),
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> ClassificationFigures:
    """All figures of one zero-shot task from the true labels and the [N, C] class probabilities."""
    probs = np.asarray(probs, dtype=np.float64)
    t = np.asarray(y_true, dtype=np.int64)
    n_classes = len(classes)
    if probs.ndim != 2 or probs.shape != (len(t), n_classes):
        raise ValueError(f"probs must be [{len(t)}, {n_classes}], got {probs.shape}")
    if len(t) == 0:
        raise ValueError("no images to score")
    pred = np.argmax(probs, axis=1)
    cm = confusion_matrix(t, pred, n_classes)
    present = cm.sum(axis=1) > 0
    f1 = f1_from_confusion(cm)
    acc = recall_from_confusion(cm)
    names = tuple(classes)
    ci: dict[str, Any] = {"method": f"bootstrap, {resamples} resamples, numpy default_rng(seed={BOOTSTRAP_SEED})"}
    if resamples > 0:
        boot, boot_macro = bootstrap_f1(t, pred, n_classes, resamples)
        lo, hi = np.percentile(boot, [2.5, 97.5], axis=0)
        ci["macro_f1"] = [float(v) for v in np.percentile(boot_macro, [2.5, 97.5])]
        ci["per_class_f1"] = {names[c]: [float(lo[c]), float(hi[c])] for c in range(n_classes) if present[c]}
    return ClassificationFigures(
        classes=names,
        present=tuple(names[c] for c in range(n_classes) if present[c]),
        n_images=int(len(t)),
        macro_f1=float(f1[present].mean()),
        per_class_f1={names[c]: float(f1[c]) for c in range(n_classes) if present[c]},
        accuracy=float(acc[present].mean()),
        per_class_accuracy={names[c]: float(acc[c]) for c in range(n_classes) if present[c]},
        overall_accuracy=float(np.trace(cm) / cm.sum()),
        top_k={int(k): float(topk_recall(probs, t, int(k))[present].mean()) for k in top_ks},
        confusion=cm.tolist(),
        ci95=ci,
    )
