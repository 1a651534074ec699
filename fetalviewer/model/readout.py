"""Zero-shot read-outs of FetalCLIP embeddings: plane and brain sub-plane probabilities, gestational age.

Pure numpy functions on L2-normalised embeddings, following the FetalCLIP reference evaluation
(Maani et al., arXiv 2502.14807; public code ``zero_shot_planes_db`` and ``zero_shot_hc18``):

* class embedding = mean of the L2-normalised prompt embeddings, re-normalised;
  logits = 100 x cos (fixed 100, the checkpoint's ``logit_scale`` is not used); softmax over classes;
* GA: 100 x cos against each of the 5 x 175 normalised prompt embeddings, mean over the 5 templates,
  the 15 largest of the 175 values, their indices sorted, element 7 (the median index); GA = 98 + index days;
* validity: the true HC lies between the WHO fetal growth chart's 2.5th and 97.5th HC percentiles at the
  predicted GA (Kiserud et al., "The World Health Organization Fetal Growth Charts", PLoS Med 2017;14:e1002220,
  HC quantile regression coefficients as used by the reference evaluation).
"""

from __future__ import annotations

import math

import numpy as np

from fetalviewer.analysis.who_hc import who_hc_centile_mm
from fetalviewer.model.planes import GA_FIRST_DAY

#: Fixed logit scale of the reference zero-shot evaluation.
LOGIT_SCALE = 100.0
#: Number of top GA prompts whose median index is the estimate.
GA_TOP_K = 15
#: FetalCLIP's input side; the GA pixel-spacing string refers to the input side of the model that reads it
#: (MobileFetalCLIP, arXiv 2603.05421, computes it with its own 256 px input).
MODEL_INPUT_PX = 224

#: WHO HC percentile curves, HC(t) = exp(b0 + b1 t + b2 t^2 + b3 t^3) mm, t in weeks (Kiserud 2017).
#: The WHO chart's centiles by the names the read-out uses (the curve: :func:`fetalviewer.analysis.who_hc.who_hc_centile_mm`).
WHO_CENTILES = {"p2.5": 2.5, "p50": 50.0, "p97.5": 97.5}
#: The reference scores only images whose true HC lies in this range (mm).
VPR_SCORED_HC_RANGE_MM = (100.0, 342.0)


def l2_normalize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=axis, keepdims=True)
    if np.any(norm == 0):
        raise ValueError("x: cannot normalise a zero embedding")
    return x / norm


def class_embeddings(prompt_embeddings: np.ndarray) -> np.ndarray:
    """[C, P, D] normalised prompt embeddings -> [C, D] class embeddings (mean, re-normalised)."""
    emb = np.asarray(prompt_embeddings, dtype=np.float64)
    if emb.ndim != 3:
        raise ValueError(f"prompt_embeddings: expected [classes, prompts, dim], got shape {emb.shape}")
    return l2_normalize(l2_normalize(emb).mean(axis=1))


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def zero_shot_probs(image_embeddings: np.ndarray, class_emb: np.ndarray) -> np.ndarray:
    """[N, D] image embeddings (normalised here) x [C, D] class embeddings -> [N, C] probabilities."""
    img = l2_normalize(np.atleast_2d(image_embeddings))
    cls = np.asarray(class_emb, dtype=np.float64)
    if img.shape[1] != cls.shape[1]:
        raise ValueError(f"embedding sizes differ: image {img.shape[1]}, class {cls.shape[1]}")
    return softmax(LOGIT_SCALE * img @ cls.T)


def ga_template_mean(prompt_embeddings: np.ndarray) -> np.ndarray:
    """[T, K, D] GA prompt embeddings -> [K, D] mean over templates of the normalised embeddings.

    The mean over templates of 100 x cos is linear, so the mean vector gives the same dot products.
    """
    emb = np.asarray(prompt_embeddings, dtype=np.float64)
    if emb.ndim != 3:
        raise ValueError(f"prompt_embeddings: expected [templates, ga_values, dim], got shape {emb.shape}")
    return l2_normalize(emb).mean(axis=0)


def ga_dot_products(image_embeddings: np.ndarray, template_mean: np.ndarray) -> np.ndarray:
    """[N, D] image embeddings x [K, D] template means -> [N, K] mean 100 x cos (no softmax)."""
    img = l2_normalize(np.atleast_2d(image_embeddings))
    return LOGIT_SCALE * img @ np.asarray(template_mean, dtype=np.float64).T


def ga_index_from_dots(dots: np.ndarray) -> np.ndarray | int:
    """Median-of-top-15 read-out: indices of the 15 largest values, sorted, element 7.

    Works on one row ([K] -> int) or many ([N, K] -> [N] int array).
    """
    d = np.asarray(dots, dtype=np.float64)
    single = d.ndim == 1
    d = np.atleast_2d(d)
    if d.shape[1] < GA_TOP_K:
        raise ValueError(f"dots: need at least {GA_TOP_K} GA values, got {d.shape[1]}")
    top = np.argsort(-d, axis=1, kind="stable")[:, :GA_TOP_K]
    idx = np.sort(top, axis=1)[:, GA_TOP_K // 2]
    return int(idx[0]) if single else idx


def ga_days_from_index(index: int) -> int:
    return GA_FIRST_DAY + int(index)


def ga_pixel_spacing(
    width_px: int, height_px: int, pixel_size_mm: float, input_px: int = MODEL_INPUT_PX
) -> float:
    """mm per model-input pixel: max(W, H) / input side x pixel size (original size, before padding)."""
    if not isinstance(input_px, int) or input_px < 1:
        raise ValueError(f"input_px must be a positive int, got {input_px!r}")
    if width_px <= 0 or height_px <= 0:
        raise ValueError(f"width_px/height_px must be positive, got {width_px}x{height_px}")
    if not (pixel_size_mm > 0 and math.isfinite(pixel_size_mm)):
        raise ValueError(f"pixel_size_mm must be a positive number, got {pixel_size_mm!r}")
    return max(width_px, height_px) / input_px * pixel_size_mm


def ga_spacing_string(width_px: int, height_px: int, pixel_size_mm: float, input_px: int = MODEL_INPUT_PX) -> str:
    """The spacing exactly as written into the GA prompts: ``f"{spacing:.2f}"``."""
    return f"{ga_pixel_spacing(width_px, height_px, pixel_size_mm, input_px):.2f}"


def who_hc_percentile_mm(ga_days: float | np.ndarray, percentile: str = "p50") -> float | np.ndarray:
    """WHO fetal growth chart HC percentile (mm) at GA in days (Kiserud 2017), numbers or arrays."""
    if percentile not in WHO_CENTILES:
        raise ValueError(f"percentile must be one of {sorted(WHO_CENTILES)}, got {percentile!r}")
    return who_hc_centile_mm(ga_days, WHO_CENTILES[percentile])


def hc_consistent_with_ga(true_hc_mm: float | np.ndarray, ga_days: float | np.ndarray) -> bool | np.ndarray:
    """True when the HC lies within the WHO 2.5th..97.5th percentiles at ``ga_days`` (the reference VPR test)."""
    lo = who_hc_percentile_mm(ga_days, "p2.5")
    hi = who_hc_percentile_mm(ga_days, "p97.5")
    hc = np.asarray(true_hc_mm, dtype=np.float64)
    ok = (hc >= lo) & (hc <= hi)
    return bool(ok) if np.ndim(ok) == 0 else ok
