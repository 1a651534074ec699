"""``validate ga``: zero-shot gestational age on every HC18 training image, valid-prediction rate (VPR).

As the reference evaluation (FetalCLIP, arXiv 2502.14807): every image whatever its top plane; the prompt
pixel spacing is max(W, H) / the loaded model's input side (224 FetalCLIP, 256 MobileFetalCLIP,
arXiv 2603.05421) x the published pixel size; GA from the median-of-top-15
read-out of the 175 template-averaged dot products; an image is scored when its true HC lies in
[100, 342] mm and counts as valid when that HC lies between the WHO P2.5 and P97.5 at the predicted GA
(Kiserud et al., PLoS Med 2017). :func:`score_ga` is that read-out and rule, applied to dot products from
the model or from the cache alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fetalviewer.model import readout
from fetalviewer.validate import modelrun
from fetalviewer.validate.cache import ImageCache
from fetalviewer.validate.control import RunControl
from fetalviewer.validate.datasets import HC18Dataset
from fetalviewer.validate.published import (
    GA_DOT_TOLERANCE,
    PUBLISHED_FIGURES,
    Reference,
)
from fetalviewer.validate.result import AcceptanceResult, Figure, Plot, Series, compare, machine_info

JOB = "ga"


@dataclass(frozen=True)
class GaScore:
    valid: int
    scored: int
    per_image: tuple[dict[str, Any], ...]

    @property
    def vpr_percent(self) -> float | None:
        return 100.0 * self.valid / self.scored if self.scored else None


def score_ga(filenames: list[str], dots: np.ndarray, true_hc_mm: np.ndarray) -> GaScore:
    """The reference read-out and validity rule on [N, 175] dot products (see the module docstring)."""
    dots = np.asarray(dots, dtype=np.float64)
    hc = np.asarray(true_hc_mm, dtype=np.float64)
    if dots.ndim != 2 or len(dots) != len(filenames) or len(hc) != len(filenames):
        raise ValueError(f"need one row of dots and one HC per file, got {dots.shape}, {hc.shape}")
    ga_days = np.array([readout.ga_days_from_index(i) for i in readout.ga_index_from_dots(dots)])
    lo, hi = readout.VPR_SCORED_HC_RANGE_MM
    scored = (hc >= lo) & (hc <= hi)
    valid = scored & np.asarray(readout.hc_consistent_with_ga(hc, ga_days))
    per_image = tuple(
        {
            "image": name,
            "true_hc_mm": float(hc[i]),
            "ga_days": int(ga_days[i]),
            "scored": bool(scored[i]),
            "valid": bool(valid[i]) if scored[i] else None,
        }
        for i, name in enumerate(filenames)
    )
    return GaScore(int(valid.sum()), int(scored.sum()), per_image)


def compute_dots(dataset: HC18Dataset, engine, cache: ImageCache, control: RunControl, batch_size: int = 8) -> np.ndarray:
    """[N, 175] dot products of every image (cache or model); text embeddings come from the engine's cache."""
    todo = [im for im in dataset.images if cache.get(im.filename) is None]
    total = len(dataset.images)
    done = total - len(todo)
    control.start("zero-shot GA", done, total)
    for start in range(0, len(todo), batch_size):
        control.check()
        chunk = todo[start : start + batch_size]
        images = modelrun.read_images([im.path for im in chunk])
        emb = modelrun.embed(engine, images)
        records = []
        for i, (im, pixels) in enumerate(zip(chunk, images, strict=True)):
            rows, cols = pixels.shape[:2]
            spacing = readout.ga_spacing_string(cols, rows, im.pixel_size_mm, engine.loaded.input_px)
            dots = readout.ga_dot_products(emb[i], engine.ga_template_means(spacing))[0]
            records.append({"image": im.filename, "spacing": spacing, "dots": dots.tolist()})
        cache.put_many(records)
        done += len(chunk)
        control.advance(done, total)
    return np.array([cache.get(im.filename)["dots"] for im in dataset.images], dtype=np.float64)


def compare_dots(filenames: list[str], dots: np.ndarray, published: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per-image |ours - published| of the 175 dot products (images matched by file name)."""
    diffs, missing = [], []
    for name, row in zip(filenames, dots, strict=True):
        ref = published.get(name)
        if ref is None or ref.shape != row.shape:
            missing.append(name)
            continue
        diffs.append((name, float(np.max(np.abs(row - ref)))))
    values = np.array([d for _, d in diffs]) if diffs else np.zeros(0)
    beyond = [{"image": n, "max_abs_diff": d} for n, d in diffs if d > GA_DOT_TOLERANCE]
    return {
        "n_compared": len(diffs),
        "not_in_published": missing,
        "max_abs_diff": float(values.max()) if len(values) else None,
        "median_abs_diff": float(np.median(values)) if len(values) else None,
        "tolerance": GA_DOT_TOLERANCE,
        "beyond_tolerance": sorted(beyond, key=lambda x: -x["max_abs_diff"]),
    }


def band_plot(score: GaScore) -> Plot:
    weeks = np.linspace(14, 40, 53)
    band = [
        Series(f"WHO {p.upper()}", "line", tuple(weeks), tuple(readout.who_hc_percentile_mm(weeks * 7, p)), c)
        for p, c in (("p2.5", "#888888"), ("p50", "#bbbbbb"), ("p97.5", "#888888"))
    ]
    pts = [r for r in score.per_image if r["scored"]]
    valid = [r for r in pts if r["valid"]]
    invalid = [r for r in pts if not r["valid"]]
    return Plot(
        "True HC against the predicted GA's WHO band",
        "predicted GA (weeks)",
        "true HC (mm)",
        (
            *band,
            Series("valid", "points", tuple(r["ga_days"] / 7 for r in valid), tuple(r["true_hc_mm"] for r in valid), "#2a7a2a"),
            Series("not valid", "points", tuple(r["ga_days"] / 7 for r in invalid), tuple(r["true_hc_mm"] for r in invalid), "#c0392b"),
        ),
        "Each scored image (true HC 100-342 mm) at its predicted GA; valid when inside the WHO P2.5-P97.5 band.",
    )


def run_ga(
    dataset: HC18Dataset,
    engine,
    out_dir: Path,
    control: RunControl,
    published_dir: str | Path | None = None,
    batch_size: int = 8,
) -> AcceptanceResult:
    model = modelrun.model_dict(engine)
    family = model["family"]
    published = modelrun.published_outputs(family, published_dir)
    cache = modelrun.image_cache(JOB, engine, dataset.fingerprint.csv_sha256, out_dir)
    dots = compute_dots(dataset, engine, cache, control, batch_size)
    names = [im.filename for im in dataset.images]
    score = score_ga(names, dots, np.array([im.hc_mm for im in dataset.images]))

    figures = [
        compare("valid prediction rate (%)", score.vpr_percent, PUBLISHED_FIGURES.get(family or "", {}).get("ga_vpr_percent"),
                note=f"{score.valid} of {score.scored} scored images valid"),
        Figure("images scored (true HC 100-342 mm)", float(score.scored)),
    ]
    notes = []
    if "16" in str(model.get("dtype")):
        notes.append(
            f"GA ran under {model['dtype']}; the reference GA evaluation is fp32, and half precision moves the "
            "dot products by a few hundredths: use --precision fp32 to compare like with like"
        )
    dot_cmp = None
    published_dots = None if published is None else published.ga_dots()
    if published_dots is not None:
        dot_cmp = compare_dots(names, dots, published_dots)
        if dot_cmp["n_compared"]:
            ref = Reference(0.0, GA_DOT_TOLERANCE, "published GA dot products", direction="max")
            fig = compare("GA dot products: max |difference| to published", dot_cmp["max_abs_diff"], ref)
            figures.append(
                Figure(fig.name, fig.value, fig.published, fig.tolerance, fig.status,
                       f"median {dot_cmp['median_abs_diff']:.3g}; {len(dot_cmp['beyond_tolerance'])} of "
                       f"{dot_cmp['n_compared']} images beyond tolerance")
            )
        else:
            notes.append("no image of this run is in the published GA dot products")
    summary = {"valid": score.valid, "scored": score.scored, "vpr_percent": score.vpr_percent}
    return AcceptanceResult(
        job=JOB,
        title="Zero-shot gestational age on the HC18 training set",
        summary=summary,
        figures=figures,
        model=model,
        dataset={"name": "HC18 training set", "folder": str(dataset.folder), **dataset.fingerprint.to_dict()},
        details={"per_image": list(score.per_image), "dot_products_vs_published": dot_cmp},
        plots=[band_plot(score)],
        notes=notes,
        machine=machine_info(model.get("device")),
    )
