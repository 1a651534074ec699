"""Device check of ``fetalviewer validate`` (run where torchmetrics, scikit-learn and a GPU exist).

1. The validation figures against torchmetrics (multiclass F1 / accuracy / top-k accuracy,
   ``average="none"``, mean over the classes present) and the bootstrap intervals against scikit-learn's
   ``f1_score`` per resample, on FetalCLIP's published predictions and on random probabilities.
2. The planes and GA jobs on a synthetic data set with a tiny random-weight model on CUDA (fp16 autocast)
   and on the CPU (fp32): device and precision as recorded, predictions and GA dot products compared.

Usage, from the repository root: ``python tools/validate_device_check.py``; prints and writes
``$OUT/validate_device_check.json`` (``$OUT`` defaults to /tmp).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("FETALVIEWER_HOME", "/tmp/fvhome")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def check_metrics() -> dict:
    import torch
    import torchmetrics.functional.classification as tmf
    from sklearn.metrics import f1_score

    from fetalviewer.model.planes import BRAIN_SUBPLANE_CLASSES, PLANE_CLASSES
    from fetalviewer.validate.metrics import classification_figures
    from fetalviewer.validate.published import PublishedData

    out: dict = {}
    pub = PublishedData()
    for task, classes in (("planes", PLANE_CLASSES), ("brain", BRAIN_SUBPLANE_CLASSES)):
        pred, k = pub.predictions(task), len(classes)
        t = np.array([classes.index(x) for x in pred.label])
        p = np.array([classes.index(x) for x in pred.prediction])
        ours = classification_figures(t, np.eye(k)[p], classes, resamples=2000)
        pt, tt = torch.tensor(p), torch.tensor(t)
        f1 = tmf.multiclass_f1_score(pt, tt, num_classes=k, average="none").numpy()
        acc = tmf.multiclass_accuracy(pt, tt, num_classes=k, average="none").numpy()
        present = np.unique(t)
        rng = np.random.default_rng(42)
        boot = []
        for _ in range(2000):
            idx = rng.integers(0, len(t), size=len(t))
            boot.append(f1_score(t[idx], p[idx], labels=list(range(k)), average=None, zero_division=0))
        lo, hi = np.percentile(np.array(boot), [2.5, 97.5], axis=0)
        ci = ours.ci95["per_class_f1"]
        out[task] = {
            "macro_f1": [ours.macro_f1, float(f1[present].mean())],
            "accuracy": [ours.accuracy, float(acc[present].mean())],
            "ci_max_abs_diff_vs_sklearn": max(
                max(abs(ci[classes[c]][0] - lo[c]), abs(ci[classes[c]][1] - hi[c])) for c in present
            ),
        }
    rng = np.random.default_rng(1)
    t = rng.choice([0, 1, 2, 3, 8], 4000)
    probs = rng.dirichlet(np.ones(9) * 0.3, 4000)
    probs[np.arange(2000), t[:2000]] += 1
    probs /= probs.sum(1, keepdims=True)
    ours = classification_figures(t, probs, PLANE_CLASSES, top_ks=(2, 3), resamples=0)
    present = np.unique(t)
    tp, tt = torch.tensor(probs, dtype=torch.float64), torch.tensor(t)
    out["random"] = {
        "macro_f1": [
            ours.macro_f1,
            float(tmf.multiclass_f1_score(tp, tt, num_classes=9, average="none").numpy()[present].mean()),
            float(np.mean(f1_score(t, probs.argmax(1), labels=list(present), average=None))),
        ],
        **{
            f"top{k}": [
                ours.top_k[k],
                float(tmf.multiclass_accuracy(tp, tt, num_classes=9, top_k=k, average="none").numpy()[present].mean()),
            ]
            for k in (2, 3)
        },
    }
    return out


def synthetic_data(root: Path, n: int = 48) -> None:
    from PIL import Image

    rng = np.random.default_rng(7)
    planes = ["Fetal brain", "Fetal abdomen", "Fetal femur", "Fetal thorax", "Maternal cervix", "Other"]
    subs = ["Trans-thalamic", "Trans-cerebellum", "Trans-ventricular"]
    (root / "db" / "Images").mkdir(parents=True, exist_ok=True)
    (root / "hc" / "training_set").mkdir(parents=True, exist_ok=True)
    rows = ["Image_name;Patient_num;Plane;Brain_plane;Operator;US_Machine;Train "]
    hc_rows = ["filename,pixel size(mm),head circumference (mm)"]
    yy, xx = np.mgrid[0:300, 0:400]
    for i in range(n):
        inside = (((xx - 200 - i) / (60 + i)) ** 2 + ((yy - 150) / 50) ** 2) <= 1
        image = np.clip(rng.normal(60, 30, (300, 400)) + 120 * inside, 0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / "db" / "Images" / f"im{i:03d}.png")
        Image.fromarray(image).save(root / "hc" / "training_set" / f"{i:03d}_HC.png")
        plane = planes[i % len(planes)]
        sub = subs[i % 3] if plane == "Fetal brain" else "Not A Brain"
        rows.append(f"im{i:03d};{i};{plane};{sub};Op;M;{i % 2}")
        hc_rows.append(f"{i:03d}_HC.png,{0.1 + 0.002 * i},{120 + 4 * i}")
    (root / "db" / "FETAL_PLANES_DB_data.csv").write_text("\n".join(rows) + "\n")
    (root / "hc" / "training_set_pixel_size_and_HC.csv").write_text("\n".join(hc_rows) + "\n")


def check_jobs(root: Path, devices: tuple[str, str] = ("cuda", "cpu")) -> dict:
    from fetalviewer.validate import datasets, modelrun
    from fetalviewer.validate.control import RunControl
    from fetalviewer.validate.ga import run_ga
    from fetalviewer.validate.planes import run_planes
    from tests.model_fixtures import TINY_CONFIG, save_official, tiny_state_dict

    root.mkdir(parents=True, exist_ok=True)
    weights = str(save_official(tiny_state_dict(0), root / "tiny.pt"))
    synthetic_data(root)
    out: dict = {}
    caches: dict = {}
    for device in devices:
        engine = modelrun.open_engine("auto", weights, str(TINY_CONFIG), device)
        for job in ("planes", "ga"):
            start = time.perf_counter()
            if job == "planes":
                result = run_planes(datasets.read_planes_db(root / "db"), engine, root / f"{job}-{device}",
                                    RunControl(), resamples=1000)  # fmt: skip
            else:
                result = run_ga(datasets.read_hc18_training(root / "hc"), engine, root / f"{job}-{device}", RunControl())
            out[f"{job}-{device}"] = {
                "seconds": round(time.perf_counter() - start, 2),
                "summary": result.summary,
                "device": result.model["device"],
                "dtype": result.model["dtype"],
                "gpu": result.machine.get("gpu"),
                "verdict": result.verdict,
            }
            lines = (root / f"{job}-{device}" / "cache" / f"{job}.jsonl").read_text().splitlines()[1:]
            caches[(job, device)] = {r["image"]: r for r in map(json.loads, lines)}
    a, b = caches[("planes", devices[0])], caches[("planes", devices[1])]
    out["planes_top_class_agreement_cuda_fp16_vs_cpu_fp32"] = float(
        np.mean([np.argmax(a[k]["plane"]) == np.argmax(b[k]["plane"]) for k in a])
    )
    a, b = caches[("ga", devices[0])], caches[("ga", devices[1])]
    out["ga_dots_max_abs_diff_cuda_vs_cpu"] = max(
        float(np.abs(np.array(a[k]["dots"]) - np.array(b[k]["dots"])).max()) for k in a
    )
    return out


def main() -> int:
    import torch

    result = {"torch": torch.__version__, "cuda": torch.cuda.is_available(), "metrics": check_metrics()}
    print(json.dumps(result, indent=1), flush=True)
    if torch.cuda.is_available():
        result["jobs"] = check_jobs(Path("/tmp/validate_device_check"))
    target = Path(os.environ.get("OUT", "/tmp")) / "validate_device_check.json"
    target.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
