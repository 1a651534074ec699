"""``validate planes``: zero-shot plane and brain sub-plane read-outs on FETAL_PLANES_DB vs the published figures.

Five planes: every image except ``Other``, softmax over all 9 zero-shot classes, F1 per class over the 9
outputs, macro F1 = mean over the classes present in the labels (so ``kidney`` etc. only count as wrong
answers). Brain sub-planes: the rows whose ``Brain_plane`` is a sub-plane, 3-way softmax. For FetalCLIP
on the whole data set (split ``all``), each image's prediction is compared with the authors' published one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fetalviewer.model import readout
from fetalviewer.model.planes import BRAIN_SUBPLANE_CLASSES, PLANE_CLASSES
from fetalviewer.validate import modelrun
from fetalviewer.validate.cache import ImageCache
from fetalviewer.validate.control import RunControl
from fetalviewer.validate.datasets import PlanesDataset
from fetalviewer.validate.metrics import BOOTSTRAP_RESAMPLES, ClassificationFigures, classification_figures
from fetalviewer.validate.published import (
    FETALCLIP,
    MIN_AGREEMENT,
    PUBLISHED_FIGURES,
    PublishedData,
    Reference,
)
from fetalviewer.validate.result import AcceptanceResult, Figure, compare, machine_info

JOB = "planes"


def compute_probabilities(
    dataset: PlanesDataset, engine, cache: ImageCache, control: RunControl, batch_size: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """([N, 9] plane, [N, 3] brain sub-plane) probabilities of every image, from the cache or the model."""
    plane_emb = engine.plane_class_embeddings()
    brain_emb = engine.brain_class_embeddings()
    todo = [im for im in dataset.images if cache.get(im.name) is None]
    total = len(dataset.images)
    done = total - len(todo)
    control.start("zero-shot planes", done, total)
    for start in range(0, len(todo), batch_size):
        control.check()
        chunk = todo[start : start + batch_size]
        emb = modelrun.embed(engine, modelrun.read_images([im.path for im in chunk]))
        plane = readout.zero_shot_probs(emb, plane_emb)
        brain = readout.zero_shot_probs(emb, brain_emb)
        cache.put_many(
            [
                {"image": im.name, "plane": plane[i].tolist(), "brain": brain[i].tolist()}
                for i, im in enumerate(chunk)
            ]
        )
        done += len(chunk)
        control.advance(done, total)
    plane = np.array([cache.get(im.name)["plane"] for im in dataset.images], dtype=np.float64)
    brain = np.array([cache.get(im.name)["brain"] for im in dataset.images], dtype=np.float64)
    return plane, brain


def agreement(
    names: list[str], ours: list[str], labels: list[str], published, task: str
) -> tuple[dict[str, Any] | None, str | None]:
    """Per-image agreement with published predictions, or (None, why it does not apply)."""
    if published is None:
        return None, f"no published {task} predictions"
    if len(published.prediction) != len(ours):
        return None, (
            f"{published.source} has {len(published.prediction)} predictions, this run {len(ours)} images "
            "(published predictions cover the whole data set, split 'all')"
        )
    if list(published.label) != labels:
        bad = sum(a != b for a, b in zip(published.label, labels, strict=True))
        return None, f"{published.source}: labels differ from the CSV's on {bad} rows (another CSV version?)"
    differ = [
        {"image": n, "label": lab, "ours": o, "published": p}
        for n, o, p, lab in zip(names, ours, published.prediction, labels, strict=True)
        if o != p
    ]
    n = len(ours)
    return {
        "n_images": n,
        "n_agree": n - len(differ),
        "agreement_0_1": (n - len(differ)) / n,
        "differing_images": differ,
        "source": published.source,
    }, None


def _reference(task: str, family: str | None, published: PublishedData | None) -> Reference | None:
    key = "planes_macro_f1" if task == "planes" else "brain_macro_f1"
    ref = PUBLISHED_FIGURES.get(family or "", {}).get(key)
    value = published.results_f1(task) if published is not None else None
    if value is None:
        return ref
    tolerance = (ref or PUBLISHED_FIGURES[FETALCLIP][key]).tolerance
    return Reference(value, tolerance, f"{published.folder} results file")


def run_planes(
    dataset: PlanesDataset,
    engine,
    out_dir: Path,
    control: RunControl,
    published_dir: str | Path | None = None,
    batch_size: int = 8,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> AcceptanceResult:
    model = modelrun.model_dict(engine)
    family = model["family"]
    published = modelrun.published_outputs(family, published_dir)
    cache = modelrun.image_cache(JOB, engine, dataset.fingerprint.csv_sha256, out_dir)
    plane_probs, brain_probs = compute_probabilities(dataset, engine, cache, control, batch_size)

    names = [im.name for im in dataset.images]
    labels = [im.plane for im in dataset.images]
    y = [PLANE_CLASSES.index(p) for p in labels]
    five = classification_figures(y, plane_probs, PLANE_CLASSES, top_ks=(2, 3), resamples=resamples)
    brain_idx = [i for i, im in enumerate(dataset.images) if im.brain_plane is not None]
    brain_labels = [dataset.images[i].brain_plane for i in brain_idx]
    brain: ClassificationFigures | None = None
    if brain_idx:
        yb = [BRAIN_SUBPLANE_CLASSES.index(b) for b in brain_labels]
        brain = classification_figures(yb, brain_probs[brain_idx], BRAIN_SUBPLANE_CLASSES, resamples=resamples)

    whole = dataset.split == "all"
    notes: list[str] = []
    agree5 = agree_b = None
    if whole and published is not None:
        ours5 = [PLANE_CLASSES[int(k)] for k in np.argmax(plane_probs, axis=1)]
        agree5, why = agreement(names, ours5, labels, published.predictions("planes"), "five-plane")
        if why:
            notes.append(f"five planes: per-image agreement not computed: {why}")
        if brain_idx:
            ours_b = [BRAIN_SUBPLANE_CLASSES[int(k)] for k in np.argmax(brain_probs[brain_idx], axis=1)]
            agree_b, why = agreement(
                [names[i] for i in brain_idx], ours_b, brain_labels, published.predictions("brain"), "brain"
            )
            if why:
                notes.append(f"brain sub-planes: per-image agreement not computed: {why}")
    elif not whole:
        notes.append(f"split {dataset.split!r}: the published figures are for the whole data set; reported only")

    figures: list[Figure] = []
    ref5 = _reference("planes", family, published) if whole else None
    figures.append(compare("five planes: macro F1", five.macro_f1, ref5))
    for cls, f1 in five.per_class_f1.items():
        figures.append(Figure(f"five planes: F1 {cls}", f1))
    figures.append(Figure("five planes: accuracy (mean per class)", five.accuracy))
    for k, v in five.top_k.items():
        figures.append(Figure(f"five planes: top-{k} accuracy (mean per class)", v))
    if brain is not None:
        refb = _reference("brain", family, published) if whole else None
        figures.append(compare("brain sub-planes: macro F1", brain.macro_f1, refb))
        for cls, f1 in brain.per_class_f1.items():
            figures.append(Figure(f"brain sub-planes: F1 {cls}", f1))
        figures.append(Figure("brain sub-planes: accuracy (mean per class)", brain.accuracy))
    min_agree = Reference(1.0, 1.0 - MIN_AGREEMENT, "published per-image predictions", direction="min")
    for label, agree in (("five planes", agree5), ("brain sub-planes", agree_b)):
        if agree is not None:
            fig = compare(f"{label}: agreement with published predictions", agree["agreement_0_1"], min_agree)
            figures.append(
                Figure(fig.name, fig.value, fig.published, fig.tolerance, fig.status,
                       f"{agree['n_images'] - agree['n_agree']} of {agree['n_images']} images differ")
            )
    summary = {
        "macro_f1": five.macro_f1,
        "per_class_f1": dict(five.per_class_f1),
        "brain_macro_f1": None if brain is None else brain.macro_f1,
        "n_images": five.n_images,
        "n_brain_images": 0 if brain is None else brain.n_images,
        "agreement_0_1": None if agree5 is None else agree5["agreement_0_1"],
    }
    return AcceptanceResult(
        job=JOB,
        title="Zero-shot plane classification on FETAL_PLANES_DB",
        summary=summary,
        figures=figures,
        model=model,
        dataset={
            "name": "FETAL_PLANES_DB",
            "folder": str(dataset.folder),
            "split": dataset.split,
            "csv_rows": dataset.n_csv_rows,
            **dataset.fingerprint.to_dict(),
        },
        details={
            "five_planes": five.to_dict(),
            "brain_subplanes": None if brain is None else brain.to_dict(),
            "agreement_five_planes": agree5,
            "agreement_brain_subplanes": agree_b,
        },
        notes=notes,
        machine=machine_info(model.get("device")),
    )
