"""``validate hc``: automatic head circumference against the HC18 ground truth.

Per HC18 training image and per segmentation model (the project's default head model; an installed
FetalCLIP seg head for the loaded weights when there is one): segmentation -> ellipse fit of the mask ->
HC (Ramanujan perimeter x published pixel size), exactly as ``fetalviewer analyze`` measures
(:mod:`fetalviewer.analysis.frame_biometry`); |HC error| statistics and refusals by
:func:`fetalviewer.analysis.hc_evaluation.evaluate_hc` (as ``measure evaluate-hc``); Dice of the mask
against the filled annotation (:func:`fetalviewer.model.heads.hc18_data.fill_outline`); Bland-Altman
bias and 95 % limits of agreement (Bland & Altman, Lancet 1986;1:307-310).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fetalviewer.validate.cache import ImageCache
from fetalviewer.validate.control import RunControl
from fetalviewer.validate.datasets import DatasetError, HC18Dataset, HC18Image
from fetalviewer.validate.modelrun import CACHE_FORMAT
from fetalviewer.validate.published import Reference
from fetalviewer.validate.result import AcceptanceResult, Figure, Plot, Series, compare, machine_info

JOB = "hc"
#: The FetalCLIP paper's HC18 head segmentation DSC (their own trained decoder; arXiv 2502.14807).
FETALCLIP_SEG_DICE = Reference(0.9792, 0.02, "FetalCLIP paper, HC18 DSC of the authors' decoder", "min")

Segmenter = Callable[[np.ndarray], Any]  # gray uint8 image -> HeadSegmentation


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def measure_image(image: HC18Image, segment: Segmenter) -> dict[str, Any]:
    """One image's cache record: hc_mm (or the refusal reason) and Dice."""
    from fetalviewer.analysis.frame_biometry import biometry_fields, fit_head_mask
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.model.heads.hc18_data import fill_outline
    from fetalviewer.validate.modelrun import read_images

    gray = read_images([image.path])[0]
    if gray.ndim == 3:
        raise DatasetError(f"{image.path}: HC18 images are 8-bit grayscale, this one has colour")
    annotation = read_images([image.annotation_path])[0]
    try:
        truth = fill_outline(annotation, source=image.annotation_path)
    except FetalViewerError as exc:
        raise DatasetError(str(exc)) from exc
    seg = segment(gray)
    fit = fit_head_mask(seg.mask, seg.crop_box)
    fields = biometry_fields(fit, pixel_size_mm=image.pixel_size_mm)
    return {
        "image": image.filename,
        "hc_mm": fields["hc_mm"],
        "biometry_unavailable_reason": fields["biometry_unavailable_reason"],
        "dice": dice(seg.mask, truth),
    }


def bland_altman(measured: np.ndarray, truth: np.ndarray) -> dict[str, float] | None:
    if len(measured) < 2:
        return None
    diff = measured - truth
    bias, sd = float(diff.mean()), float(diff.std(ddof=1))
    return {"bias_mm": bias, "sd_mm": sd, "loa_low_mm": bias - 1.96 * sd, "loa_high_mm": bias + 1.96 * sd}


def bland_altman_plot(label: str, measured: np.ndarray, truth: np.ndarray, stats: dict[str, float]) -> Plot:
    mean = (measured + truth) / 2
    x0, x1 = float(mean.min()), float(mean.max())
    lines = [
        Series(name, "line", (x0, x1), (v, v), color)
        for name, v, color in (
            ("bias", stats["bias_mm"], "#1f3a5f"),
            ("-1.96 SD", stats["loa_low_mm"], "#888888"),
            ("+1.96 SD", stats["loa_high_mm"], "#888888"),
        )
    ]
    return Plot(
        f"Bland-Altman: {label}",
        "mean of measured and true HC (mm)",
        "measured - true HC (mm)",
        (*lines, Series("images", "points", tuple(mean), tuple(measured - truth), "#c0392b")),
        f"bias {stats['bias_mm']:+.2f} mm, 95 % limits of agreement {stats['loa_low_mm']:+.2f} to "
        f"{stats['loa_high_mm']:+.2f} mm",
    )


def run_model(
    label: str,
    key: dict[str, Any],
    segment: Segmenter,
    dataset: HC18Dataset,
    out_dir: Path,
    control: RunControl,
) -> list[dict[str, Any]]:
    cache = ImageCache(Path(out_dir) / "cache" / f"{JOB}-{key['model_id']}.jsonl", {"job": JOB, "format": CACHE_FORMAT, **key})
    todo = [im for im in dataset.images if cache.get(im.filename) is None]
    total = len(dataset.images)
    done = total - len(todo)
    control.start(f"head circumference ({label})", done, total)
    for im in todo:
        control.check()
        cache.put_many([measure_image(im, segment)])
        done += 1
        control.advance(done, total)
    return [cache.get(im.filename) for im in dataset.images]


def default_head_reference() -> tuple[Any, dict[str, Any]]:
    """(the default head model, its released held-out evaluation) - the figures it was released with."""
    from fetalviewer.model.heads.default_head import DEFAULT_HEAD_META, default_head_dir, load_default_head

    model = load_default_head()
    meta = json.loads((default_head_dir() / DEFAULT_HEAD_META).read_text(encoding="utf-8"))
    return model, dict(meta.get("heldout_evaluation", {}))


def model_figures(
    label: str, records: list[dict[str, Any]], dataset: HC18Dataset, release: dict[str, Any] | None
) -> tuple[list[Figure], dict[str, Any], Plot | None]:
    from fetalviewer.analysis.hc_evaluation import evaluate_hc

    truth = {im.filename: im.hc_mm for im in dataset.images}
    frames = [{"source": r["image"], **r} for r in records]
    ev = evaluate_hc(frames, truth)
    dices = np.array([r["dice"] for r in records], dtype=np.float64)
    measured = [r for r in records if r["hc_mm"] is not None]
    m = np.array([r["hc_mm"] for r in measured], dtype=np.float64)
    t = np.array([truth[r["image"]] for r in measured], dtype=np.float64)
    ba = bland_altman(m, t)
    refused = ev.n_images - ev.n_measured
    ref_mae = ref_dice = ref_refused = None
    if release:
        src = f"released held-out evaluation of the default head model ({release.get('n_images')} images)"
        ref_mae = Reference(float(release["hc_mean_abs_error_mm"]), 1.0, src, "max")
        ref_dice = Reference(float(release["dice_mean"]), 0.02, src, "min")
        share = release["n_refused"] / release["n_images"]
        ref_refused = Reference(round(share, 4), 0.05, src, "max")
    elif label.startswith("FetalCLIP"):
        ref_dice = FETALCLIP_SEG_DICE
    figures = [
        compare(f"{label}: mean |HC error| (mm)", ev.mean_abs_diff_mm, ref_mae),
        Figure(f"{label}: median |HC error| (mm)", ev.median_abs_diff_mm),
        Figure(f"{label}: max |HC error| (mm)", ev.max_abs_diff_mm),
        compare(f"{label}: mean Dice", float(dices.mean()) if len(dices) else None, ref_dice),
        compare(f"{label}: share refused", refused / ev.n_images if ev.n_images else None, ref_refused,
                note=f"{refused} of {ev.n_images} images not measured"),
    ]
    details = {
        **ev.to_dict(),
        "dice_mean": float(dices.mean()) if len(dices) else None,
        "dice_median": float(np.median(dices)) if len(dices) else None,
        "dice_min": float(dices.min()) if len(dices) else None,
        "bland_altman": ba,
        "refused": refused,
    }
    plot = None if ba is None else bland_altman_plot(label, m, t, ba)
    return figures, details, plot


def fetalclip_seg_segmenter(engine) -> tuple[Segmenter | None, dict[str, Any] | None, str]:
    """(segment function, cache key, note) of the installed FetalCLIP seg head for ``engine``, or (None, None, why)."""
    from fetalviewer.model.heads.backbone import BackboneSpec
    from fetalviewer.model.heads.headfile import find_head
    from fetalviewer.model.heads.runtime import SegHead

    if engine is None:
        return None, None, "no FetalCLIP weights loaded, so no FetalCLIP seg head can run"
    backbone = BackboneSpec.from_loaded(engine.loaded)
    choice = find_head("seg", backbone)
    if choice.path is None:
        return None, None, choice.reason
    head = SegHead(choice.path, backbone)
    if head.class_names != ("head",):
        return None, None, f"{choice.path}: segments {head.class_names[0]!r}, not the fetal head"
    key = {"model_id": "fetalclip-seg-" + head.sha256[:16], "head_sha256": head.sha256,
           "weights_sha256": engine.info.weights_sha256}
    return (lambda gray: head.segment(engine.loaded, gray)), key, f"installed head {choice.path}"


def run_hc(
    dataset: HC18Dataset,
    out_dir: Path,
    control: RunControl,
    engine=None,
    engine_note: str = "",
) -> AcceptanceResult:
    from fetalviewer.model.heads.default_head import segment_head

    default_model, release = default_head_reference()
    summary_records = None
    figures: list[Figure] = []
    plots: list[Plot] = []
    details: dict[str, Any] = {}
    notes: list[str] = []
    models: dict[str, Any] = {
        "default_head": {
            "name": default_model.name,
            "version": default_model.version,
            "weights_sha256": default_model.weights_sha256,
        }
    }
    key = {"model_id": "default-" + default_model.weights_sha256[:16], "weights_sha256": default_model.weights_sha256}
    records = run_model("default head model", key, lambda g: segment_head(g, None, default_model), dataset, out_dir, control)
    summary_records = records
    figs, det, plot = model_figures("default head model", records, dataset, release)
    figures += figs
    details["default_head"] = det
    plots += [plot] if plot else []

    segment, fkey, note = fetalclip_seg_segmenter(engine)
    if segment is None:
        notes.append(f"FetalCLIP seg head not validated: {engine_note or note}")
    else:
        info = engine.info
        models["fetalclip_seg_head"] = {
            "head": note,
            "head_sha256": fkey["head_sha256"],
            "backbone": f"{info.model_name} ({info.config_name}), weights sha256 {info.weights_sha256}, "
            f"{info.device} / {info.dtype}",
        }
        frecs = run_model("FetalCLIP seg head", fkey, segment, dataset, out_dir, control)
        figs, det, plot = model_figures("FetalCLIP seg head", frecs, dataset, None)
        figures += figs
        details["fetalclip_seg_head"] = det
        plots += [plot] if plot else []
    d = details["default_head"]
    summary = {
        "mean_abs_hc_error_mm": d["mean_abs_diff_mm"],
        "measured": d["n_measured"],
        "refused": d["refused"],
    }
    details["per_image_default_head"] = summary_records
    device = None if engine is None else engine.info.device
    return AcceptanceResult(
        job=JOB,
        title="Automatic head circumference on the HC18 training set",
        summary=summary,
        figures=figures,
        model=models,
        dataset={"name": "HC18 training set", "folder": str(dataset.folder), **dataset.fingerprint.to_dict()},
        details=details,
        plots=plots,
        notes=notes,
        machine=machine_info(device),
    )
