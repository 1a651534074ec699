"""``fetalviewer analyze PATH...``: FetalCLIP plane, brain sub-plane and GA read-outs per image/frame.

Every image and DICOM instance is analysed by the workspace's study runner
(:meth:`fetalviewer.workspace.study_run.ModelSession.analyse`: the window's ``StudyAnalysis`` and result
cache, the model loaded once): frames the window (or an earlier run with the same options) analysed are
read from the cache, not run again (``timings.frames_from_cache``). ``--no-crop``, ``--pixel-size-mm``
(when it is used) and ``--head-readouts-all-frames`` change the outputs, so they are cached apart.

Per-frame output is built by :func:`frame_record` (:mod:`fetalviewer.commands.analyze_records`) and
extended by the functions listed in :data:`FRAME_EXTENDERS` (head biometry and the CHD fields, which
work without the model weights). After the last frame of a DICOM instance, :data:`CLIP_EXTENDERS` build
its clip-level block (the CHD review prompt from the heart frames' embeddings) and may update that
instance's frame records. Both lists are explicit: adding an extender is one line here.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fetalviewer import __version__
from fetalviewer.analysis.frame_numbers import frame_label
from fetalviewer.commands import analyze_biometry, analyze_records, study_outputs
from fetalviewer.commands.analyze_records import (
    MODEL_SOURCE,
    ClipContext,
    ClipExtender,
    FrameContext,
    FrameExtender,
)
from fetalviewer.commands.options import (
    add_json_option,
    add_model_options,
    add_paths_argument,
    require_supported_model,
    write_json_output,
)
from fetalviewer.errors import FetalViewerError, UsageError, WeightsNotFound

NAME = "analyze"
HELP = (
    "FetalCLIP decision support per image/frame: plane probabilities, brain sub-plane, gestational age, "
    "head biometry (a trained FetalCLIP seg head when installed, else the default head model) and, per "
    "heart clip, the CHD review prompt of a trained CHD head"
)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
__all__ = ["MODEL_SOURCE", "ClipContext", "FrameContext", "clip_record", "frame_record"]

#: Called on every frame record, in order, to add fields.
FRAME_EXTENDERS: list[FrameExtender] = [analyze_biometry.add_biometry_and_chd]
#: Called once per multi-frame DICOM instance after its frames, in order.
CLIP_EXTENDERS: list[ClipExtender] = [analyze_biometry.add_clip_chd]


def frame_record(context: FrameContext) -> dict[str, Any]:
    """The per-frame dict written by ``analyze``, extended by :data:`FRAME_EXTENDERS`."""
    return analyze_records.frame_record(context, FRAME_EXTENDERS)


def clip_record(context: ClipContext) -> dict[str, Any]:
    """The per-instance dict written by ``analyze`` under ``clips``, extended by :data:`CLIP_EXTENDERS`."""
    return analyze_records.clip_record(context, CLIP_EXTENDERS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_paths_argument(parser, help="DICOM files/folders/DICOMDIR, PNG or JPEG images")
    add_model_options(parser, precision=True)
    parser.add_argument(
        "--pixel-size-mm",
        type=float,
        metavar="X",
        help="mm per pixel of plain images (DICOM files use their own calibration)",
    )
    parser.add_argument(
        "--no-crop", action="store_true", help="do not crop DICOM frames to the 2D tissue region"
    )
    parser.add_argument("--step", type=int, default=1, metavar="N", help="analyse every Nth frame of a cine")
    parser.add_argument("--batch-size", type=int, metavar="B", help="frames per model batch")
    parser.add_argument(
        "--head-readouts-all-frames",
        action="store_true",
        help="brain sub-plane and GA for every frame, not only frames whose top plane is brain",
    )
    add_json_option(parser)
    study_outputs.add_arguments(parser)  # --best-frames, --search TEXT, ...


def _split_sources(paths: Iterable[str]) -> tuple[list[Path], list[str]]:
    images, others = [], []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            images.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES))
            others.append(str(path))
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            images.append(path)
        else:
            others.append(str(path))
    return images, others


def _load_dicom(paths: list[str]):
    if not paths:
        return [], []
    from fetalviewer.dicom import load_study
    from fetalviewer.dicom.instance import STREAM_CACHE_MB

    study = load_study(paths, cache_mb=STREAM_CACHE_MB)
    problems = [
        {"path": p.path, "message": p.message}
        for p in study.problems
        if Path(p.path).suffix.lower() not in IMAGE_SUFFIXES
    ]
    return study.instances, problems


def open_model(args, *, optional: bool = True):
    """``(ModelSession, None, load seconds)`` with the model of ``args`` (``--model/--weights/--config/
    --device/--precision/--batch-size``) loaded once, or ``(None, reason, 0)`` when no weights are
    installed and none were given (``optional``). Loading progress goes to stderr."""
    from fetalviewer.workspace.study_run import ModelSession

    require_supported_model(args)
    session = ModelSession(
        args.weights,
        args.config,
        device=args.device,
        precision=getattr(args, "precision", "auto"),
        batch_size=getattr(args, "batch_size", None),
        model=args.model,
    )
    start = time.perf_counter()

    def progress(p) -> None:
        if sys.stderr is not None and p.stage != "ready":
            print(f"\rloading model: {p.stage} {100 * p.done:.0f}%   ", end="", file=sys.stderr, flush=True)

    try:
        session.load(progress)
    except WeightsNotFound as exc:
        if args.weights or not optional:
            raise
        return None, str(exc), 0.0
    finally:
        if sys.stderr is not None:
            print("\r" + " " * 60 + "\r", end="", file=sys.stderr, flush=True)
    if sys.stderr is not None:
        session.service.engine.text_cache.on_encode = lambda what, n: print(
            f"{what}...", file=sys.stderr, flush=True
        )
    return session, None, time.perf_counter() - start


def _print_frame(record: dict[str, Any], n_frames: int | None = None) -> None:
    """One line per frame record; frames are numbered from 1 here ("frame 13 of 120")."""
    where = record["source"] + ("" if record["frame_index"] is None else f" [{frame_label(record['frame_index'], n_frames)}]")
    if record.get("top_plane") is None:
        print(f"{where}: plane and GA unavailable ({record.get('plane_unavailable_reason')})")
        return
    text = f"{where}: {record['top_plane_display']} ({record['top_prob_0_1']:.2f})"
    if record.get("top_brain_subplane"):
        sub = record["top_brain_subplane"]
        text += f"; {record['top_brain_subplane_display']} ({record['brain_subplane_probs'][sub]:.2f})"
    if record.get("ga_days") is not None:
        text += f"; GA {record['ga_weeks_days']} ({record['ga_days']} days, pixel spacing {record['ga_pixel_spacing']} mm)"
    else:
        text += f"; GA unavailable: {record['ga_unavailable_reason']}"
    print(text)


def run(args: argparse.Namespace) -> int:
    if args.step < 1:
        raise UsageError("--step must be 1 or more")
    if args.pixel_size_mm is not None and not args.pixel_size_mm > 0:
        raise UsageError("--pixel-size-mm must be a positive number")
    if study_outputs.wanted(args):  # study read-outs (best frame per plane, search) instead of frame lines
        return study_outputs.run(args)
    try:
        return _run(args)
    except ValueError as exc:  # e.g. --device cuda without a GPU
        raise UsageError(str(exc)) from exc


def _run(args: argparse.Namespace) -> int:
    images, dicom_paths = _split_sources(args.paths)
    missing = [p for p in args.paths if not Path(p).exists()]
    session, unavailable, load_s = open_model(args)
    info = None if session is None else session.info
    problems: list[dict[str, str]] = [{"path": p, "message": f"{p}: no such file or folder"} for p in missing]
    dicom_paths = [p for p in dicom_paths if p not in missing]
    try:
        if session is None:
            records, clips, n_frames = _records_without_model(args, images, dicom_paths, unavailable, problems)
            timing = (0.0, 0, 0)
        else:
            records, clips, n_frames, timing = _records_from_study_run(
                args, session, images, dicom_paths, problems
            )
    finally:
        if session is not None:
            session.close()
    analysis_s, n_model_frames, n_cached = timing

    output = {
        "fetalviewer_version": __version__,
        "model": None if info is None else info.to_dict(),
        "model_unavailable_reason": unavailable,
        "frames": records,
        "clips": clips,
        "problems": problems,
        "timings": {
            "model_load_s": round(load_s, 3),
            "analysis_s": round(analysis_s, 3),
            "frames_analysed": n_model_frames,  # through the model in this run
            "frames_from_cache": n_cached,  # read from the analysis cache shared with the window
            "frames_per_s": round(n_model_frames / analysis_s, 3) if analysis_s > 0 else None,
        },
    }
    if args.json != "-":
        if info is not None:
            print(
                f"model: {info.config_name} weights {info.weights_path} (sha256 {info.weights_sha256[:12]}..., "
                f"licence {info.licence}) on {info.device}, {info.dtype}"
            )
        for record in records:
            _print_frame(record, n_frames.get(record.get("sop_instance_uid")))
            if record.get("biometry_text"):  # added by the biometry extender (analyze_biometry)
                print(f"    {record['biometry_text']}")
        for clip in clips:
            if clip.get("chd_summary"):  # added by the CHD clip extender (analyze_biometry)
                print(f"{clip['source']} (clip of {clip['n_frames']} frames): {clip['chd_summary']}")
        for problem in problems:
            print(f"problem: {problem['message']}")
        if unavailable:
            print(f"note: plane labels and GA are unavailable: {unavailable}")
        if n_model_frames:
            print(f"timing: model load {load_s:.1f} s, {n_model_frames} frames in {analysis_s:.1f} s")
        if n_cached:
            print(f"{n_cached} frames from the analysis cache (shared with the window)")
    if args.json:
        write_json_output(args.json, output)
    if not records and (problems or not args.paths):
        return 2  # nothing could be analysed: every input was refused (each problem printed above)
    return 0



def _records_without_model(args, images, dicom_paths, unavailable, problems):
    """(frame records, clip records, frames per SOP Instance UID) saying why no read-out is available
    (the head biometry extender still runs on the pixels)."""
    from fetalviewer.model.inputs import frame_input_from_image

    records: list[dict[str, Any]] = []
    clips: list[dict[str, Any]] = []
    n_frames: dict[str, int] = {}
    for path in images:
        try:
            item = frame_input_from_image(path, args.pixel_size_mm)
        except FetalViewerError as exc:
            problems.append({"path": str(path), "message": str(exc)})
            continue
        records.append(frame_record(FrameContext(item.source, None, None, item, None, unavailable)))
    instances, dicom_problems = _load_dicom(dicom_paths)
    problems.extend(dicom_problems)
    for cine in instances:
        try:
            n_frames[cine.sop_instance_uid] = int(cine.n_frames)
            contexts = [
                FrameContext(str(cine.path), i, cine, None, None, unavailable)
                for i in range(0, cine.n_frames, args.step)
            ]
            own = [frame_record(c) for c in contexts]
            records.extend(own)
            clips.extend(_clip(cine, contexts, own, unavailable, None))
        finally:
            cine.close()
    return records, clips, n_frames


def _clip(cine, contexts, own, unavailable, run_on_model) -> list[dict[str, Any]]:
    """The clip record of a multi-frame instance (CHD read-outs), or none."""
    if int(getattr(cine, "n_frames", 1) or 1) < 2 or not contexts:
        return []
    return [clip_record(ClipContext(str(cine.path), cine, tuple(contexts), tuple(own), unavailable, run_on_model))]


def _records_from_study_run(args, session, images, dicom_paths, problems):
    """Every input analysed by the workspace's study runner (:meth:`ModelSession.analyse`, with the
    window's result cache), then one record per analysed frame and one per multi-frame clip.

    Returns (frame records, clip records, frames per SOP Instance UID, (seconds, frames through the model,
    frames from the cache))."""
    from fetalviewer.model.inputs import frame_input_from_image
    from fetalviewer.workspace.cache import AnalysisCache
    from fetalviewer.workspace.study_analysis import target_from_cine, target_from_image
    from fetalviewer.workspace.study_run import frame_predictions

    head_all = bool(args.head_readouts_all_frames)
    entries: list[tuple[Any, Any]] = []  # (target, cine or None), in input order
    for path in images:
        try:
            entries.append((target_from_image(path, args.pixel_size_mm, head_readouts_all_frames=head_all), None))
        except FetalViewerError as exc:
            problems.append({"path": str(path), "message": str(exc)})
    instances, dicom_problems = _load_dicom(dicom_paths)
    problems.extend(dicom_problems)
    for cine in instances:
        target = target_from_cine(
            cine, crop=not args.no_crop, pixel_size_mm=args.pixel_size_mm, head_readouts_all_frames=head_all
        )
        entries.append((target, cine))
    records: list[dict[str, Any]] = []
    clips: list[dict[str, Any]] = []
    n_frames: dict[str, int] = {}
    try:
        targets = [t for t, _ in entries]
        wanted = {t.sop_instance_uid: range(0, t.n_frames, args.step) for t in targets}
        run = session.analyse(targets, frames=wanted, cache=AnalysisCache(), batch_size=args.batch_size)
        backend, run_on_model = session.backend, session.run_on_model
        label = session.info.output_label
        n_predicted = 0
        for target, cine in entries:
            uid = target.sop_instance_uid
            for i, why in sorted(run.frame_problems.get(uid, {}).items()):
                problems.append({"path": target.path, "message": f"{frame_label(i, target.n_frames)}: {why}"})
            if uid in run.problems:
                problems.append({"path": target.path, "message": run.problems[uid]})
            analysis = run.results.get(uid)
            if analysis is None:
                continue
            preds = frame_predictions(
                analysis, target.path, label, target=target, backend=backend, frames=wanted[uid]
            )
            n_predicted += len(preds)
            if cine is not None:
                n_frames[uid] = target.n_frames
            contexts = []
            for pred in preds:
                frame = 0 if pred.frame_index is None else pred.frame_index
                try:
                    embedding = analysis.raw_embeddings([frame])[0]
                except ValueError:  # analysed without its norm (older record): no CHD input
                    embedding = None
                item = frame_input_from_image(target.path, args.pixel_size_mm) if cine is None else None
                contexts.append(
                    FrameContext(target.path, pred.frame_index, cine, item, pred, None, embedding, run_on_model)
                )
            own = [frame_record(c) for c in contexts]
            records.extend(own)
            if cine is not None:
                clips.extend(_clip(cine, contexts, own, None, run_on_model))
    finally:
        for _target, cine in entries:
            if cine is not None:
                cine.close()
    return records, clips, n_frames, (run.seconds, run.frames_computed, n_predicted - run.frames_computed)
