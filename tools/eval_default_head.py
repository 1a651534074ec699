"""Evaluate the default head model on the HC18 held-out split (images it was never trained on).

    python tools/eval_default_head.py --data PATH/TO/hc18 [--model weights/default_head/hc18_unet.json]
        [--write]   # store the result in the model's JSON as "heldout_evaluation"

HC is measured the way the app measures it: ``segment_head`` (mask in original pixels) ->
``fetalviewer.analysis.frame_biometry.fit_head_mask`` (as ``analyze`` does) (outer contour, ellipse fit, half-pixel edge
offset, plausibility checks) -> Ramanujan perimeter x the published pixel size. The reference is the
published HC of the CSV. Dice compares the mask with the filled annotation ellipse.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fetalviewer.analysis.frame_biometry import fit_head_mask  # noqa: E402
from fetalviewer.atomic import write_text_atomic  # noqa: E402
from fetalviewer.model.heads.default_head import (  # noqa: E402
    DEFAULT_HEAD_META,
    default_head_dir,
    load_default_head,
)
from fetalviewer.model.heads.hc18_data import read_hc18  # noqa: E402


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(a, b).sum() / total)


def evaluate(
    data: str | Path, meta_path: str | Path, split: str = "heldout", verbose: bool = False, limit: int = 0
) -> dict:
    model = load_default_head(meta_path)
    items = [i for i in read_hc18(data) if i.held_out == (split == "heldout")]
    items = items[:limit] if limit else items
    rows, seconds = [], []
    for item in items:
        image = item.load_image()
        t0 = time.perf_counter()
        seg = model.segment(image)
        seconds.append(time.perf_counter() - t0)
        fit = fit_head_mask(seg.mask, seg.crop_box)
        row = {
            "filename": item.filename,
            "hc_true_mm": item.hc_mm,
            "dice": dice(seg.mask, item.load_mask()),
            "confidence_0_1": seg.confidence_0_1,
        }
        if fit.ok:
            row["hc_mm"] = fit.ellipse.perimeter_px * item.pixel_size_mm
            row["hc_error_mm"] = row["hc_mm"] - item.hc_mm
        else:
            row["refused"] = fit.reason
        rows.append(row)
        if verbose:
            print(json.dumps(row), flush=True)
    errors = np.array([r["hc_error_mm"] for r in rows if "hc_error_mm" in r])
    dices = np.array([r["dice"] for r in rows])
    return {
        "split": split,
        "n_images": len(rows),
        "n_measured": int(errors.size),
        "n_refused": len(rows) - int(errors.size),
        "refusals": {r["filename"]: r["refused"] for r in rows if "refused" in r},
        "hc_mean_abs_error_mm": float(np.abs(errors).mean()) if errors.size else None,
        "hc_median_abs_error_mm": float(np.median(np.abs(errors))) if errors.size else None,
        "hc_max_abs_error_mm": float(np.abs(errors).max()) if errors.size else None,
        "hc_mean_signed_error_mm": float(errors.mean()) if errors.size else None,
        "dice_mean": float(dices.mean()) if dices.size else None,
        "dice_min": float(dices.min()) if dices.size else None,
        "seconds_per_frame_mean": float(np.mean(seconds)) if seconds else None,
        "method": "segment_head -> analysis.frame_biometry.fit_head_mask -> Ramanujan perimeter x pixel size",
        "per_image": rows,
    }


def calibrate_threshold(data: str | Path, meta_path: str | Path, thresholds: list[float]) -> dict:
    """HC mean absolute error on the TRAINING images for each probability threshold (never held-out)."""
    model = load_default_head(meta_path)
    items = [i for i in read_hc18(data) if not i.held_out]
    errors: dict[float, list[float]] = {t: [] for t in thresholds}
    for item in items:
        seg = model.segment(item.load_image())
        for t in thresholds:
            fit = fit_head_mask((seg.probability > t).astype(np.uint8), seg.crop_box)
            if fit.ok:
                errors[t].append(abs(fit.ellipse.perimeter_px * item.pixel_size_mm - item.hc_mm))
    table = {
        str(t): {"hc_mean_abs_error_mm": float(np.mean(e)) if e else None, "n_measured": len(e)}
        for t, e in errors.items()
    }
    best = min(thresholds, key=lambda t: np.mean(errors[t]) if errors[t] else np.inf)
    return {"split": "train", "n_images": len(items), "by_threshold": table, "chosen_threshold_prob": best}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default=str(default_head_dir() / DEFAULT_HEAD_META))
    parser.add_argument("--split", choices=("heldout", "train"), default="heldout")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="store the result in the model JSON")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (quick look)")
    parser.add_argument(
        "--calibrate-threshold",
        action="store_true",
        help="choose the mask threshold on the TRAINING images (HC error) and store it in the model JSON",
    )
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    if args.calibrate_threshold:
        result = calibrate_threshold(args.data, args.model, [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7])
        print(json.dumps(result, indent=2))
        meta_path = Path(args.model)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        meta["output"]["threshold_prob"] = result["chosen_threshold_prob"]
        meta["output"]["threshold_calibration"] = result
        meta.pop("heldout_evaluation", None)  # any earlier evaluation used another threshold
        write_text_atomic(meta_path, json.dumps(meta, indent=2) + "\n")
        print(f"stored threshold {result['chosen_threshold_prob']} in {meta_path}")
        return 0
    result = evaluate(args.data, args.model, args.split, args.verbose, args.limit)
    if args.write and args.limit:
        parser.error("--write needs the whole split (no --limit)")
    summary = {k: v for k, v in result.items() if k != "per_image"}
    print(json.dumps(summary, indent=2))
    if args.write:
        if args.split != "heldout":
            parser.error("--write stores the held-out evaluation only")
        meta_path = Path(args.model)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        summary["weights_sha256"] = meta["weights_sha256"]
        summary["per_image"] = [
            {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}
            for row in result["per_image"]
        ]
        meta["heldout_evaluation"] = summary
        write_text_atomic(meta_path, json.dumps(meta, indent=2) + "\n")
        print(f"wrote the evaluation into {meta_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
