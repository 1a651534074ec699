"""``fetalviewer measure``: the biometry equations, outline measurement and the exam's measurement table,
scripted.

Examples::

    fetalviewer measure ga --hc-mm 175
    fetalviewer measure ga --bpd-mm 47 --hc-mm 175 --ac-mm 150 --fl-mm 33 --json
    fetalviewer measure efw --ac-mm 300 --fl-mm 60 --hc-mm 280
    fetalviewer measure outline 000_HC_Annotation.png --pixel-size-mm 0.0691
    fetalviewer measure who --ga-weeks 20
    fetalviewer measure table --study-uid 1.2.3.4
    fetalviewer measure evaluate-hc analyze.json pixel_size_and_hc.csv

Values outside an equation's valid range print the refusal with the range; nothing is extrapolated.
Exit status: 0 when something was computed, 1 when every estimate was refused (or nothing was found
to measure), 2 for bad arguments or an unreadable input file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fetalviewer.errors import UsageError

NAME = "measure"
HELP = "GA, EFW and WHO centiles from biometry values, HC from an outline or mask image, the exam's table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="measure_command", metavar="WHAT", required=True)

    ga = sub.add_parser("ga", help="GA by every applicable equation (with citations)")
    _add_biometry_args(ga)
    ga.add_argument("--crl-mm", type=float, help="crown-rump length, mm")
    ga.add_argument(
        "--model-ga-days", type=float, help="model GA to check for discordance with the formula GA"
    )
    ga.add_argument("--threshold-days", type=float, default=14.0, help="discordance threshold (default 14)")

    efw = sub.add_parser("efw", help="estimated fetal weight: Hadlock 1985 and INTERGROWTH-21st")
    _add_biometry_args(efw)

    outline = sub.add_parser(
        "outline",
        aliases=["hc18"],
        help="HC, BPD, OFD and GA from a head outline or mask image (e.g. an HC18 annotation)",
    )
    outline.add_argument("image", metavar="IMAGE", help="PNG/JPEG: outline pixels (>0 on 0) or a filled mask")
    outline.add_argument("--pixel-size-mm", type=float, help="mm per pixel (omit: pixels only, no GA)")
    outline.add_argument(
        "--filled",
        action="store_true",
        help="the image is a filled mask: fit its outer contour instead of every pixel",
    )
    outline.add_argument("--json", action="store_true", help="print JSON")

    who = sub.add_parser("who", help="WHO 2017 HC centiles at a GA, or the HC's WHO-median GA")
    who.add_argument("--ga-weeks", type=float, help="GA in weeks (14-40)")
    who.add_argument("--hc-mm", type=float, help="HC in mm (with --ga-weeks: inside P2.5-P97.5?)")
    who.add_argument("--json", action="store_true", help="print JSON")

    ev = sub.add_parser(
        "evaluate-hc",
        help="score analyze's hc_mm against published HC (mean |diff|, Hadlock GA in the WHO band)",
    )
    ev.add_argument(
        "analyze_json", metavar="ANALYZE_JSON", help="output of 'fetalviewer analyze ... --json OUT'"
    )
    ev.add_argument(
        "truth_csv", metavar="TRUTH_CSV", help="HC18-style CSV: filename, pixel size (mm), HC (mm)"
    )
    ev.add_argument("--json", action="store_true", help="print JSON (with per-image rows)")

    table = sub.add_parser("table", help="the measurement table of a study's exam record")
    table.add_argument("--study-uid", required=True, help="StudyInstanceUID of the exam record")
    table.add_argument("--model-ga-days", type=float, help="model GA to check for discordance")
    table.add_argument(
        "--manual-bpd-convention", choices=("outer-inner", "outer-outer"), default="outer-inner"
    )
    table.add_argument("--json", action="store_true", help="print JSON")


def _add_biometry_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bpd-mm", type=float, help="biparietal diameter, mm")
    p.add_argument(
        "--bpd-convention",
        choices=("outer-inner", "outer-outer"),
        default="outer-inner",
        help="BPD caliper placement (default outer-inner, Hadlock's; outer-outer is converted, Wong 2018)",
    )
    p.add_argument("--hc-mm", type=float, help="head circumference, mm")
    p.add_argument("--ac-mm", type=float, help="abdominal circumference, mm")
    p.add_argument("--fl-mm", type=float, help="femur length, mm")
    p.add_argument("--json", action="store_true", help="print JSON")


# -- printing --------------------------------------------------------------------------------------------
def _print_estimates(title: str, estimates, citations: list[str]) -> None:
    print(title)
    for e in estimates:
        if e.citation not in citations:
            citations.append(e.citation)
        ref = citations.index(e.citation) + 1
        print(f"  {e.display_text()} [{ref}]")


def _print_citations(citations: list[str]) -> None:
    if citations:
        print("References:")
        for i, c in enumerate(citations, 1):
            print(f"  [{i}] {c}")


def _emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _values(args: argparse.Namespace) -> dict[str, float]:
    names = {"BPD": "bpd_mm", "HC": "hc_mm", "AC": "ac_mm", "FL": "fl_mm", "CRL": "crl_mm"}
    return {k: getattr(args, v) for k, v in names.items() if getattr(args, v, None) is not None}


def _print_table(table, header: str) -> list:
    citations: list[str] = []
    estimates = []
    print(header)
    for row in table.rows.values():
        conv = f", {row.convention}" if row.convention else ""
        src = f"{row.source}, n={row.n_measurements}" if row.source != "entered" else "entered"
        title = f"{row.label} {row.value_mm:.1f} mm ({src}{conv})"
        if row.ga:
            _print_estimates(title, row.ga, citations)
        else:
            print(f"{title}\n  no dating equation for {row.label}")
        estimates.extend(row.ga)
    for x in getattr(table, "excluded", []):
        print(f"{x.label} measurement {x.measurement_id} not used: {x.reason}")
    if any(p in table.rows for p in ("BPD", "HC", "AC", "FL")):
        combined = [table.combined_ga] + ([table.intergrowth_hc_fl] if table.intergrowth_hc_fl else [])
        _print_estimates("Combined GA", combined, citations)
        estimates.extend(combined)
    if table.efw:
        _print_estimates("Estimated fetal weight", table.efw, citations)
        estimates.extend(table.efw)
    if table.model_ga_days is not None:
        print(table.discordance.display_text())
    _print_citations(citations)
    return estimates


# -- subcommands ---------------------------------------------------------------------------------------
def _run_ga(args: argparse.Namespace) -> int:
    from fetalviewer.analysis.measurement_table import MeasurementTable

    values = _values(args)
    if not values:
        raise UsageError("give at least one of --bpd-mm, --hc-mm, --ac-mm, --fl-mm, --crl-mm")
    table = MeasurementTable.from_values(
        values,
        bpd_convention=args.bpd_convention,
        model_ga_days=args.model_ga_days,
        discordance_threshold_days=args.threshold_days,
    )
    if args.json:
        _emit_json(table.to_dict())
        estimates = [e for row in table.rows.values() for e in row.ga] + [table.combined_ga]
    else:
        estimates = _print_table(table, "Gestational age from entered biometry")
    return 0 if any(e.ok for e in estimates) else 1


def _run_efw(args: argparse.Namespace) -> int:
    from fetalviewer.analysis.efw import efw_hadlock1985, efw_intergrowth
    from fetalviewer.analysis.measurement_table import MeasurementTable

    if args.ac_mm is None or (args.fl_mm is None and args.hc_mm is None):
        raise UsageError("efw needs --ac-mm with --fl-mm (Hadlock 1985) and/or --hc-mm (INTERGROWTH)")
    table = MeasurementTable.from_values(_values(args), bpd_convention=args.bpd_convention)
    h = {label: row.value_for_hadlock_mm for label, row in table.rows.items()}
    estimates = []
    if args.fl_mm is not None:
        estimates.append(efw_hadlock1985(h["AC"], h["FL"], h.get("HC"), h.get("BPD")))
    if args.hc_mm is not None:
        estimates.append(efw_intergrowth(args.ac_mm, args.hc_mm))
    if args.json:
        _emit_json([e.to_dict() for e in estimates])
    else:
        citations: list[str] = []
        _print_estimates("Estimated fetal weight", estimates, citations)
        _print_citations(citations)
    return 0 if any(e.ok for e in estimates) else 1


def _run_outline(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from fetalviewer.analysis.biometry import head_biometry
    from fetalviewer.analysis.geometry import fit_ellipse_to_mask, fit_ellipse_to_points, rc_to_points

    path = Path(args.image)
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path.is_file() else None
    if image is None:
        raise UsageError(f"{path}: not a readable image file")
    if args.pixel_size_mm is not None and not args.pixel_size_mm > 0:
        raise UsageError("--pixel-size-mm must be > 0")
    if args.filled:
        fit = fit_ellipse_to_mask(image > 0)
    else:
        fit = fit_ellipse_to_points(rc_to_points(np.argwhere(image > 0)))
    if not fit.ok:
        print(f"fetalviewer measure outline: {path}: no measurement: {fit.reason}", file=sys.stderr)
        return 1
    calibration = None
    reason = "no --pixel-size-mm given: pixels only, no mm and no GA"
    if args.pixel_size_mm is not None:
        from fetalviewer.dicom.calibration import Calibration

        calibration = Calibration(
            args.pixel_size_mm, args.pixel_size_mm, "--pixel-size-mm (command line)", None
        )
    bio = head_biometry(fit.ellipse, calibration, reason)
    if args.json:
        data = bio.to_dict()
        data["image"] = str(path)
        data["rms_residual_px"] = fit.rms_residual_px
        _emit_json(data)
        return 0
    e = bio.ellipse
    print(
        f"{path}: ellipse centre ({e.center_px[0]:.1f}, {e.center_px[1]:.1f}) px, "
        f"semi-axes {e.semi_axes_px[0]:.1f} x {e.semi_axes_px[1]:.1f} px, angle {e.angle_deg:.1f} deg, "
        f"fit RMS {fit.rms_residual_px:.2f} px"
    )
    if bio.hc_mm is None:
        print(
            f"HC {bio.hc_px:.1f} px, BPD {bio.bpd_px:.1f} px, OFD {bio.ofd_px:.1f} px ({bio.uncalibrated_reason})"
        )
        return 0
    print(
        f"HC {bio.hc_mm:.2f} mm (Ramanujan II), BPD {bio.bpd_mm:.2f} mm (outer-outer; "
        f"{bio.bpd_outer_inner_mm:.2f} mm outer-inner, Wong 2018), OFD {bio.ofd_mm:.2f} mm"
    )
    citations: list[str] = []
    _print_estimates("GA from HC", bio.ga, citations)
    _print_citations(citations)
    return 0


def _run_who(args: argparse.Namespace) -> int:
    from fetalviewer.analysis import who_hc

    if args.ga_weeks is None and args.hc_mm is None:
        raise UsageError("who: give --ga-weeks and/or --hc-mm")
    out: dict[str, Any] = {"citation": who_hc.KISERUD_2017}
    if args.ga_weeks is not None:
        if not who_hc.WHO_WEEKS[0] <= args.ga_weeks <= who_hc.WHO_WEEKS[1]:
            print(
                f"GA {args.ga_weeks:g} weeks is outside the WHO chart's 14-40 weeks: no centiles",
                file=sys.stderr,
            )
            return 1
        out["ga_weeks"] = args.ga_weeks
        out["hc_centiles_mm"] = {str(c): who_hc.who_hc_mm(args.ga_weeks, c) for c in (2.5, 50.0, 97.5)}
        if args.hc_mm is not None:
            out["hc_mm"] = args.hc_mm
            out["within_p2_5_p97_5"] = who_hc.hc_within_who_band(args.hc_mm, args.ga_weeks * 7)
    else:
        out["ga_from_hc_median"] = who_hc.ga_who_hc_p50(args.hc_mm).to_dict()
    if args.json:
        _emit_json(out)
    elif args.ga_weeks is not None:
        c = out["hc_centiles_mm"]
        print(
            f"WHO HC at {args.ga_weeks:g} weeks: P2.5 {c['2.5']:.1f} mm, P50 {c['50.0']:.1f} mm, "
            f"P97.5 {c['97.5']:.1f} mm"
        )
        if args.hc_mm is not None:
            inside = "inside" if out["within_p2_5_p97_5"] else "OUTSIDE"
            print(f"HC {args.hc_mm:g} mm is {inside} P2.5-P97.5")
        print(f"[1] {who_hc.KISERUD_2017}")
    else:
        est = who_hc.ga_who_hc_p50(args.hc_mm)
        print(est.display_text())
        print(f"[1] {est.citation}")
        return 0 if est.ok else 1
    return 0


def _run_table(args: argparse.Namespace) -> int:
    from fetalviewer.analysis.measurement_table import MeasurementTable
    from fetalviewer.exam.record import exam_record_path, load_exam_record

    if not exam_record_path(args.study_uid).exists():
        print(
            f"fetalviewer measure table: no exam record for study {args.study_uid} "
            f"({exam_record_path(args.study_uid)})",
            file=sys.stderr,
        )
        return 1
    record = load_exam_record(args.study_uid)
    if record.load_problem:
        print(record.load_problem, file=sys.stderr)
        return 1
    table = MeasurementTable(
        record.measurements,
        manual_bpd_convention=args.manual_bpd_convention,
        model_ga_days=args.model_ga_days,
    )
    if args.json:
        _emit_json(table.to_dict())
    else:
        _print_table(table, f"Measurement table of study {args.study_uid}")
    return 0


def _run_evaluate_hc(args: argparse.Namespace) -> int:
    from fetalviewer.analysis.hc_evaluation import evaluate_hc, read_hc18_truth

    try:
        data = json.loads(Path(args.analyze_json).read_text(encoding="utf-8"))
        frames = data["frames"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{args.analyze_json}: not an analyze JSON output ({exc})") from exc
    try:
        truth = read_hc18_truth(args.truth_csv)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    result = evaluate_hc(frames, truth)
    if args.json:
        _emit_json(result.to_dict())
    else:
        print(result.summary())
    return 0 if result.n_measured else 1


def run(args: argparse.Namespace) -> int:
    handlers = {
        "evaluate-hc": _run_evaluate_hc,
        "ga": _run_ga,
        "efw": _run_efw,
        "outline": _run_outline,
        "hc18": _run_outline,
        "who": _run_who,
        "table": _run_table,
    }
    return handlers[args.measure_command](args)
