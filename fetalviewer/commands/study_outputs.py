"""``fetalviewer analyze --best-frames`` and ``--search TEXT``: the workspace's study read-outs without the window.

The study (files, folders, DICOMDIR) is analysed by the workspace's runner
(:class:`~fetalviewer.workspace.study_run.ModelSession`: the same :class:`StudyAnalysis` and result cache as
the window, the model loaded once); so a study analysed here opens instantly in the window and vice versa.
Prints the best frame per plane, the exam checklist and the ranked frames of each search with their cosine
scores (frames numbered from 1, "frame 13 of 120"); ``--json OUT`` writes the same as JSON (``frame_index``
0-based), with ``frames``: the per-frame records of ``fetalviewer analyze`` for every analysed frame.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fetalviewer.analysis.frame_numbers import frame_label
from fetalviewer.commands.analyze_records import model_source
from fetalviewer.commands.options import write_json_output
from fetalviewer.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options this module adds to ``fetalviewer analyze``."""
    group = parser.add_argument_group("study read-outs (review workspace; results cached like the window's)")
    group.add_argument(
        "--best-frames",
        action="store_true",
        help="analyse every frame of the study; print the best frame per plane and the exam checklist",
    )
    group.add_argument(
        "--search",
        action="append",
        metavar="TEXT",
        help="rank the study's frames by image-text similarity to TEXT (repeatable)",
    )
    group.add_argument("--top", type=int, default=10, metavar="K", help="hits per search (default 10)")
    group.add_argument(
        "--heatmap",
        metavar="DIR",
        help="write each plane's best frame with the heat-map overlay as PNG into DIR (with --best-frames)",
    )
    group.add_argument(
        "--threshold",
        type=float,
        metavar="P",
        help="checklist threshold 0..1 (default: the uncertain_threshold_0_1 setting)",
    )


def wanted(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "best_frames", False) or getattr(args, "search", None))


def _say(text: str) -> None:
    if sys.stderr is not None:
        print(f"\r{text[:110]:<110}", end="", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Analyse the study and print/write the read-outs; returns the exit status."""
    from fetalviewer.commands.analyze import open_model
    from fetalviewer.dicom import load_study
    from fetalviewer.dicom.instance import STREAM_CACHE_MB
    from fetalviewer.model.planes import PLANE_DISPLAY_NAMES
    from fetalviewer.settings import load_settings
    from fetalviewer.workspace.cache import AnalysisCache
    from fetalviewer.workspace.findings import best_frames, exam_checklist
    from fetalviewer.workspace.search import search_frames
    from fetalviewer.workspace.study_analysis import target_from_cine

    threshold = args.threshold if args.threshold is not None else load_settings()["uncertain_threshold_0_1"]
    if not 0.0 <= float(threshold) <= 1.0:
        raise UsageError("--threshold must lie in 0..1")
    if args.top < 1:
        raise UsageError("--top must be 1 or more")
    study = load_study([str(p) for p in args.paths], cache_mb=STREAM_CACHE_MB)
    problems = [{"path": p.path, "message": p.message} for p in study.problems]
    instances = list(study.instances)
    if not instances:
        for p in problems:
            print(f"problem: {p['message']}")
        print("error: no DICOM instance to analyse", file=sys.stderr)
        return 1
    targets = [target_from_cine(loop) for loop in instances]
    names = {loop.sop_instance_uid: Path(str(loop.path)).name for loop in instances}
    n_frames = {t.sop_instance_uid: t.n_frames for t in targets}
    for loop in instances:
        loop.close()
    session, _, _ = open_model(args, optional=False)
    try:
        backend = session.backend
        run = session.analyse(
            targets, cache=AnalysisCache(), batch_size=args.batch_size, on_progress=lambda p: _say(p.message)
        )
        results = run.results
        searches = {
            text: search_frames(session.embed_text(text), results, top_k=args.top) for text in args.search or ()
        }
        info = session.info
    finally:
        session.close()
    if sys.stderr is not None:
        print("\r" + " " * 112 + "\r", end="", file=sys.stderr, flush=True)

    best = best_frames(results)
    checklist = exam_checklist(best, float(threshold))
    label = info.output_label if info is not None else "FetalCLIP zero-shot"
    source = model_source(label)
    out: dict[str, Any] = {
        "value_source": source,
        "model": info.to_dict() if info is not None else None,
        "instances": [
            {
                "sop_instance_uid": t.sop_instance_uid,
                "path": t.path,
                "n_frames": t.n_frames,
                "frames_analysed": results[t.sop_instance_uid].n_done,
                "crop_box_px": t.crop_box_px,
            }
            for t in targets
        ],
        "best_frames": {
            key: {
                "sop_instance_uid": b.sop_instance_uid,
                "file": names.get(b.sop_instance_uid),
                "frame_index": b.frame_index,
                "prob_0_1": round(b.prob_0_1, 6),
            }
            for key, b in best.items()
        },
        "checklist": {
            "threshold_0_1": float(threshold),
            "items": [{"plane": c.plane_key, "required": c.required, "found": c.found} for c in checklist],
        },
        "search": {
            text: [
                {
                    "rank": h.rank,
                    "sop_instance_uid": h.sop_instance_uid,
                    "file": names.get(h.sop_instance_uid),
                    "frame_index": h.frame_index,
                    "score_cos": round(h.score_cos, 6),
                }
                for h in hits
            ]
            for text, hits in searches.items()
        },
        "problems": problems + [{"path": uid, "message": why} for uid, why in run.problems.items()],
        # the per-frame records of ``fetalviewer analyze`` (plane, sub-plane, GA) of every analysed frame
        "frames": frame_records(targets, results, label, backend),
    }
    if args.heatmap and args.best_frames:
        out["heatmaps"] = write_heatmaps(Path(args.heatmap), best, results, targets, names)
    if args.json != "-":
        if args.heatmap and args.best_frames:
            print(f"Heat maps of the best frames written to {args.heatmap}")
        if args.best_frames:
            print(f"Best frame per plane ({source}):")
            for key in backend.plane_keys:
                b = best.get(key)
                if b is not None:
                    print(
                        f"  {PLANE_DISPLAY_NAMES[key]:<20} {b.prob_0_1:6.1%}  "
                        f"{names.get(b.sop_instance_uid)} {frame_label(b.frame_index, n_frames[b.sop_instance_uid])}"
                    )
            found = [c for c in checklist if c.required and c.found]
            required = [c for c in checklist if c.required]
            missing = [PLANE_DISPLAY_NAMES[c.plane_key] for c in required if not c.found]
            print(f"Checklist (probability >= {float(threshold):.0%}): {len(found)} of {len(required)} found")
            if missing:
                print("  missing: " + ", ".join(missing))
        for text, hits in searches.items():
            print(
                f"Search \u201c{text}\u201d (cosine image-text similarity, {source}):"
            )
            for h in hits:
                print(
                    f"  {h.rank:2d}. {h.score_cos:+.4f}  {names.get(h.sop_instance_uid)} "
                    f"{frame_label(h.frame_index, n_frames[h.sop_instance_uid])}"
                )
        for p in out["problems"]:
            print(f"problem: {p['message']}")
    if args.json:
        write_json_output(args.json, out)
    return 0


def frame_records(targets, results, model: str = "FetalCLIP zero-shot", backend=None) -> list[dict[str, Any]]:
    """``analyze``'s per-frame records (0-based ``frame_index``) from the study results, in study order,
    labelled ``model``, with the fields plain ``analyze`` fills from the same results (``backend``: the one
    that analysed them);
    the head biometry and CHD extenders of plain ``analyze`` are not run here."""
    from fetalviewer.commands.analyze_records import FrameContext, frame_record
    from fetalviewer.workspace.study_run import frame_predictions

    records = []
    for target in targets:
        analysis = results.get(target.sop_instance_uid)
        preds = (
            []
            if analysis is None
            else frame_predictions(analysis, target.path, model, target=target, backend=backend)
        )
        for pred in preds:
            record = frame_record(FrameContext(target.path, pred.frame_index, prediction=pred))
            record["sop_instance_uid"] = target.sop_instance_uid
            records.append(record)
    return records


def overlay_heatmap(frame, heat):
    """RGB uint8 frame with the 0..1 heat map blended on top (inferno-like ramp, alpha grows with heat)."""
    import numpy as np

    rgb = np.repeat(frame[..., None], 3, axis=2) if frame.ndim == 2 else frame[..., :3]
    h = heat[..., None].astype(np.float32)
    color = (
        np.concatenate([np.clip(h * 2.0, 0, 1), np.clip(h * 2.0 - 0.6, 0, 1), np.clip(0.4 - h, 0, 1)], axis=2)
        * 255.0
    )
    alpha = (h**1.5) * 0.6
    return (rgb.astype(np.float32) * (1 - alpha) + color * alpha).clip(0, 255).astype(np.uint8)


def write_heatmaps(folder: Path, best, results, targets, names) -> list[dict[str, Any]]:
    """PNG per plane's best frame with the heat map of that plane (see :mod:`fetalviewer.workspace.heatmap`)."""
    import io

    import numpy as np
    from PIL import Image

    from fetalviewer.atomic import write_bytes_atomic
    from fetalviewer.dicom import open_instance
    from fetalviewer.dicom.instance import STREAM_CACHE_MB
    from fetalviewer.workspace.heatmap import heatmap_for_frame

    by_uid = {t.sop_instance_uid: t for t in targets}
    written = []
    for key, b in best.items():
        target = by_uid[b.sop_instance_uid]
        analysis = results[b.sop_instance_uid]
        maps = analysis.class_maps[b.frame_index].astype(np.float32)
        if np.isnan(maps).any():
            continue
        cine = open_instance(target.path, cache_mb=STREAM_CACHE_MB)
        try:
            frame = cine.frame(b.frame_index)
        finally:
            cine.close()
        heat = heatmap_for_frame(
            maps, analysis.plane_keys.index(key), frame.shape[0], frame.shape[1], target.crop_box_px
        )
        buf = io.BytesIO()
        Image.fromarray(overlay_heatmap(frame, heat)).save(buf, format="PNG")
        path = (
            folder / f"{key}_{Path(names.get(b.sop_instance_uid, 'instance')).stem}_frame{b.frame_index}.png"
        )
        write_bytes_atomic(path, buf.getvalue())
        written.append({"plane": key, "path": str(path), "frame_index": b.frame_index})
    return written
