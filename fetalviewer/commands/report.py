"""``fetalviewer report PATH... --out DIR``: the exam report and exports (PDF, DICOM SR, secondary
capture, annotated cine MP4, PNG, CSV/JSON; de-identified on request), analysing first when weights
are given."""

from __future__ import annotations

import argparse
import sys
import time

from fetalviewer.commands.analyze_chd import chd_head_files
from fetalviewer.commands.options import add_model_options, add_paths_argument, require_supported_model
from fetalviewer.report.export import DEFAULT_FORMATS, FORMATS

NAME = "report"
HELP = (
    "write the exam report and exports (PDF, OB-GYN DICOM SR, secondary captures, annotated cine MP4, "
    "PNG, CSV/JSON) for a study, optionally de-identified"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_paths_argument(parser, help="DICOM files, folders or DICOMDIR of one study")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the exported files")
    parser.add_argument(
        "--deidentify",
        action="store_true",
        help="de-identify everything (PS3.15 basic profile, burned-in text blacked out); adds 'dicom' "
        "(de-identified copies of the instances) to the default formats",
    )
    parser.add_argument(
        "--shift-dates-days",
        type=int,
        metavar="N",
        help="with --deidentify: shift dates by N days instead of removing them",
    )
    add_model_options(parser, weights_help="model weights: analyse the study with the model first")
    parser.add_argument(
        "--formats",
        metavar="LIST",
        help=f"comma list of {','.join(FORMATS)} (default {','.join(DEFAULT_FORMATS)}[,dicom with --deidentify])",
    )
    parser.add_argument(
        "--png-frames",
        metavar="LIST",
        help="also write PNGs of these frame indices (0-based, comma list) of every image, with overlays",
    )
    parser.add_argument(
        "--study", metavar="UID", help="StudyInstanceUID to report when PATH holds several studies"
    )
    parser.add_argument(
        "--measure-head",
        metavar="LIST",
        help="automatic head biometry (default head model, as the window's 'Measure head') on these frame "
        "indices of every image (0-based comma list; 'best' = each image's frame the model rates most "
        "likely a head, needs analysis results); contours of the exam record's automatic heads are "
        "always drawn",
    )
    parser.add_argument(
        "--impression",
        metavar="TEXT",
        help="free-text impression, stored in the exam record (as the window's export dialog does)",
    )
    parser.add_argument(
        "--sign-off", metavar="NAME", help="sign the exam record as NAME (cleared by any later change)"
    )
    parser.add_argument(
        "--send",
        metavar="NODE",
        help="send the DICOM outputs (SR, secondary captures, de-identified copies) and the PDF as "
        "Encapsulated PDF to this node (C-STORE or STOW-RS); exit 1 when a file is refused",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="do not reuse the window's cached analysis results (re-run the model with --weights)",
    )
    parser.add_argument(
        "--analysis-step",
        type=int,
        default=5,
        metavar="N",
        help="with --weights: analyse every Nth cine frame (default 5)",
    )


def _say(text: str) -> None:
    if sys.stdout is not None:
        print(text, flush=True)


def _err(text: str) -> None:
    if sys.stderr is not None:
        print(text, file=sys.stderr, flush=True)


def _read_structured_reports(load_problems, skipped=()) -> tuple[list, list[str]]:
    """OB SRs among the files without pixel data (read with ``ObGynSR.from_file``), also those met while
    walking a folder (skipped as not images); the other problems."""
    from fetalviewer.errors import DicomReadError
    from fetalviewer.report.sr import ObGynSR

    reports, problems = [], []
    for problem in load_problems:
        if getattr(problem, "kind", "") == "no_pixel_data":
            try:
                reports.append(ObGynSR.from_file(problem.path))
                continue
            except DicomReadError:
                pass
        problems.append(problem.message)
    for path in skipped:
        try:
            reports.append(ObGynSR.from_file(path))
        except DicomReadError:
            continue
    return reports, problems


def _head_frames(text: str | None) -> tuple[tuple[int, ...], bool]:
    """``"0,12,best"`` -> ((0, 12), True); raises ValueError naming a bad item."""
    frames, best = [], False
    for item in (v.strip().lower() for v in (text or "").split(",") if v.strip()):
        if item == "best":
            best = True
        elif item.isdigit():
            frames.append(int(item))
        else:
            raise ValueError(f"--measure-head: {item!r} is neither a frame index (0-based) nor 'best'")
    return tuple(frames), best


def _analysis(instances, args, session, chd: dict):
    """(predictions, ModelInfo, reason, problems): the window's cached results first, then the study
    analysed by ``session`` (:class:`~fetalviewer.workspace.study_run.ModelSession`, loaded at most once,
    only with --weights) with the workspace's runner, every ``--analysis-step``-th frame, its results
    written to the window's cache unless --no-cache. ``chd`` gets the clip CHD block of every analysed
    multi-frame instance (scored from the un-normalised embeddings the analysis keeps) while the model
    is loaded."""
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.report.build import cached_analyses, predictions_from_analyses
    from fetalviewer.workspace.cache import AnalysisCache
    from fetalviewer.workspace.study_analysis import target_from_cine

    analyses, info, reason, problems = {}, None, "no weights given (use --weights W to analyse with FetalCLIP)", []
    if not args.no_cache:
        found, cached_info, why = cached_analyses(instances, args.weights, args.config, args.model)
        if found:
            analyses, info, reason = dict(found), cached_info, None
            done = sum(a.n_done for a in found.values())
            _say(f"reusing the window's cached analysis: {done} frame(s) of {len(found)} instance(s)")
        elif args.weights:
            _say(f"no cached analysis to reuse ({why})")
    missing = [i for i in instances if i.sop_instance_uid not in analyses]
    clips = [i for i in instances if i.n_frames > 1]
    use_model = bool(args.weights) or args.model != "auto"  # --model X: the installed X weights
    if use_model and (missing or (clips and chd_head_files())):
        try:
            new_info = session.load()
        except (FetalViewerError, ValueError) as exc:
            _err(f"model not available: {exc}")
            if not analyses:
                reason = str(exc)
        else:
            info, reason = info or new_info, None
    if session.loaded and missing:
        step = max(1, args.analysis_step)
        _say(f"analysing {len(missing)} instance(s) with the model (every {step}th frame)...")
        targets = [target_from_cine(i) for i in missing]
        run = session.analyse(
            targets,
            frames={t.sop_instance_uid: range(0, t.n_frames, step) for t in targets},
            cache=None if args.no_cache else AnalysisCache(),
        )
        analyses.update({uid: a for uid, a in run.results.items() if a.n_done})
        problems += [f"{uid}: analysis failed: {why}" for uid, why in run.problems.items()]
    predictions = predictions_from_analyses(analyses, info.output_label if info is not None else "FetalCLIP zero-shot")
    if session.loaded:
        chd.update(_clips_chd([i for i in clips if i.sop_instance_uid in analyses], analyses, predictions, session))
    return predictions, info, reason, problems


def _clips_chd(clips, analyses, predictions, session) -> dict[str, dict]:
    """The CHD block of each analysed clip: its heart frames' un-normalised embeddings scored by the
    installed CHD head. A cached analysis without them (older version) is redone for those frames
    (not cached)."""
    import numpy as np

    from fetalviewer.commands.analyze_chd import HEART_PLANE, clip_chd_block
    from fetalviewer.workspace.study_analysis import target_from_cine

    heart = {
        c.sop_instance_uid: [
            p.frame_index for p in predictions.get(c.sop_instance_uid, []) if p.top_plane == HEART_PLANE
        ]
        for c in clips
    }
    stale = [
        c
        for c in clips
        if heart[c.sop_instance_uid]
        and not np.isfinite(analyses[c.sop_instance_uid].embedding_norms[heart[c.sop_instance_uid]]).all()
    ]
    if stale:
        _say(f"embedding the heart frames of {len(stale)} cached clip(s) for the CHD head...")
        targets = [target_from_cine(c) for c in stale]
        redone = session.analyse(targets, frames={t.sop_instance_uid: heart[t.sop_instance_uid] for t in targets})
        analyses = {**analyses, **redone.results}
    blocks = {}
    for clip in clips:
        uid = clip.sop_instance_uid
        try:
            rows = analyses[uid].raw_embeddings(heart[uid]) if heart[uid] else None
        except ValueError as exc:  # the frames could not be analysed again
            blocks[uid] = clip_chd_block(heart[uid], None, None, str(exc))
            continue
        blocks[uid] = clip_chd_block(heart[uid], rows, session.run_on_model)
    return blocks


def _best_head_frames(predictions, instances) -> list[tuple[str, int]]:
    out = []
    for inst in instances:
        preds = [p for p in predictions.get(inst.sop_instance_uid, []) if p.frame_index is not None]
        if preds:
            best = max(preds, key=lambda p: p.plane_probs.get("brain", 0.0))
            if best.top_plane == "brain":
                out.append((inst.sop_instance_uid, best.frame_index))
    return out


def chd_unavailable_reason(blocks: dict | None = None) -> str:
    """Why the report carries no CHD review prompt: no trained head, no clip scored (and why)."""
    from fetalviewer.analysis.chd import NO_HEAD_REASON

    heads = chd_head_files()
    if not heads:
        return NO_HEAD_REASON
    reasons = sorted(
        {b["chd_unavailable_reason"] for b in (blocks or {}).values() if b["chd_unavailable_reason"]}
    )
    if reasons:
        return "; ".join(reasons)
    return (
        f"a CHD head is installed ({', '.join(heads)}) but no heart clip was scored: it scores the "
        "un-normalised embeddings of a clip's heart frames, so give --weights W"
    )


def chd_flag_lines(instances, blocks: dict) -> list[str]:
    """Report lines of the scored clips (by position in the study, no file names: safe to de-identify)."""
    from fetalviewer.commands.analyze_chd import report_flag_text

    lines = []
    for k, inst in enumerate(instances, start=1):
        block = blocks.get(inst.sop_instance_uid)
        line = None if block is None else report_flag_text(f"Clip {k} ({inst.n_frames} frames)", block)
        if line:
            lines.append(line)
    return lines


def export_failure_message(out: str, exc: BaseException, saved: list[str]) -> str:
    """What the user is told when the export fails: no export file was written, and what the exam
    record kept (automatic measurements, impression, sign-off are saved before the export starts)."""
    text = f"export failed, nothing was written to {out}: {exc}"
    if saved:
        text += f" (the exam record was saved with {' and '.join(saved)})"
    return text


def _sign_and_save(record, impression: str | None, signer: str | None) -> None:
    """Store the impression and sign the record (the window's export dialog does the same)."""
    from fetalviewer.exam.record import save_exam_record

    if impression is not None:
        record.set_impression(impression)
    if signer is not None:
        record.sign(signer.strip())
    save_exam_record(record)


def _print_sr(report) -> None:
    kind = "OB-GYN report (TID 5000)" if report.is_ob_report else "structured report"
    _say(f"{report.path}: {kind} by {report.manufacturer or 'unknown manufacturer'}")
    for m in report.measurements:
        ga = f", GA {m.ga_days:.1f} d ({m.ga_equation})" if m.ga_days is not None else ""
        where = f", image {m.sop_instance_uid}" if m.sop_instance_uid else ""
        where += f" frame {m.frame_number}" if m.frame_number is not None else ""
        ai = f", AI: {m.algorithm[0]} {m.algorithm[1]}" if m.algorithm else ""
        _say(f"  {m.label or m.meaning}: {m.value_mm:.1f} mm{ga}{where}{ai}")
    if report.model_ga_days is not None:
        _say(f"  model GA: {report.model_ga_days:.0f} d ({report.model_algorithm[0]})")


def run(args: argparse.Namespace) -> int:
    from fetalviewer.dicom import load_study
    from fetalviewer.dicom.instance import STREAM_CACHE_MB
    from fetalviewer.errors import ExportError, FetalViewerError, UsageError
    from fetalviewer.exam.record import load_exam_record, save_exam_record
    from fetalviewer.report.build import build_report_content, head_contours_and_measurements
    from fetalviewer.report.export import ExportOptions, export_exam, parse_formats
    from fetalviewer.settings import load_settings
    from fetalviewer.workspace.study_run import ModelSession

    try:
        formats = (
            parse_formats(args.formats)
            if args.formats
            else DEFAULT_FORMATS + (("dicom",) if args.deidentify else ())
        )
        if args.shift_dates_days is not None and not args.deidentify:
            raise ValueError("--shift-dates-days needs --deidentify")
        head_frames, head_best = _head_frames(args.measure_head)
        if args.sign_off is not None and not args.sign_off.strip():
            raise ValueError("--sign-off must name the person signing")
        png_frames = tuple(int(v) for v in args.png_frames.split(",") if v.strip()) if args.png_frames else ()
        if png_frames and "png" not in formats:
            formats = (*formats, "png")
        options = ExportOptions(formats, args.deidentify, args.shift_dates_days, png_frames)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    require_supported_model(args)
    study = load_study(args.paths, cache_mb=STREAM_CACHE_MB)
    sr_reports, problems = _read_structured_reports(study.problems, study.skipped)
    for message in problems:
        _err(f"problem: {message}")
    for sr in sr_reports:
        _print_sr(sr)
    uids = sorted({i.study_instance_uid for i in study.instances})
    chosen = args.study or (uids[0] if uids else None)
    instances = [i for i in study.instances if i.study_instance_uid == chosen]
    if not instances and sr_reports:
        _say("no image instance to report: the structured report(s) above were read, nothing exported")
        study.close()
        return 0
    if not instances:
        _err(
            f"report: no readable instance{' of study ' + chosen if args.study else ''} in {', '.join(args.paths)}"
        )
        study.close()
        return 2
    if not chosen or not chosen.strip():
        named = ", ".join(str(i.path) for i in instances[:3])
        _err(f"report: {named}: no Study Instance UID (missing or damaged), so no exam record can be kept; "
             "nothing was exported")  # fmt: skip
        study.close()
        return 2
    if len(uids) > 1 and not args.study:
        _err(f"note: {len(uids)} studies found; reporting {chosen} (choose with --study)")
    saved: list[str] = []  # what reached the exam record before an export failure
    try:
        record = load_exam_record(chosen)
        chd_blocks: dict = {}
        with ModelSession(args.weights, args.config, device=args.device, model=args.model) as session:
            predictions, info, reason, analysis_problems = _analysis(instances, args, session, chd_blocks)
        for message in analysis_problems:
            _err(f"problem: {message}")
        problems = [*problems, *analysis_problems]
        chd_lines = chd_flag_lines(instances, chd_blocks)
        for line in chd_lines:
            _say(f"CHD: {line}")
        frames = [(i.sop_instance_uid, f) for i in instances for f in head_frames if f < i.n_frames]
        if head_best:
            frames += _best_head_frames(predictions, instances)
            if not predictions:
                _err("--measure-head best: no analysis results, so no frame is known to be a head frame")
        contours, heads, notes = head_contours_and_measurements(instances, record, frames)
        for note in notes:
            _err(f"head biometry: {note}")
        for m in heads:  # kept in the exam record, as the window's 'Measure head' does
            record.put_measurement(m)
        if heads:
            save_exam_record(record)
            saved.append(f"{len(heads)} automatic head measurement(s)")
            _say(f"automatic head biometry: {len(heads)} measurement(s) stored in the exam record")
        if args.impression is not None or args.sign_off is not None:
            _sign_and_save(record, args.impression, args.sign_off)
            saved += [what for what, given in (("the impression", args.impression), ("the sign-off", args.sign_off))
                      if given is not None]  # fmt: skip
        settings = load_settings()
        content = build_report_content(
            instances, record, predictions, model_info=info, model_unavailable_reason=reason, contours=contours,
            deidentified=args.deidentify, problems=problems,
            sr_reports=[r for r in sr_reports if r.study_instance_uid == chosen],
            chd_flags=chd_lines, chd_unavailable_reason=chd_unavailable_reason(chd_blocks),
            plane_threshold_0_1=float(settings.get("uncertain_threshold_0_1", 0.5)),
            discordance_threshold_days=float(settings.get("discordance_threshold_days", 14)),
        )  # fmt: skip
        start = time.perf_counter()
        result = export_exam(content, instances, record.measurements, args.out, options, progress=_say)
    except (FetalViewerError, ValueError) as exc:
        raise ExportError(export_failure_message(args.out, exc, saved)) from exc
    finally:
        study.close()
    for note in result.notes:
        _say(f"note: {note}")
    for path in result.files:
        _say(f"wrote {path}")
    _say(
        f"{len(result.files)} file(s) in {time.perf_counter() - start:.1f} s; every file read back and checked"
    )
    _mark_study(chosen, "reported")
    if args.send:
        return _send_outputs(args.send, result.files, None if args.deidentify else instances[0].dataset(), chosen)
    return 0


def _mark_study(study_uid: str, status: str) -> None:
    """Record the study's workflow status in the local study database (when it is listed there)."""
    from fetalviewer.studydb import mark_status

    mark_status([study_uid], status)


def _send_outputs(node: str, files, reference, study_uid: str) -> int:
    from fetalviewer.commands.send import send_and_report
    from fetalviewer.report.encapsulated_pdf import dicom_outbox

    outbox = dicom_outbox(files, reference)
    code = send_and_report(node, outbox)
    if code == 0:
        _mark_study(study_uid, "sent")
    return code
