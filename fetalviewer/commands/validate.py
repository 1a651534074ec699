"""``fetalviewer validate planes|ga|hc``: site acceptance test against the published benchmarks.

Examples::

    fetalviewer validate planes --fetal-planes-db ~/data/FETAL_PLANES_ZENODO --json planes.json
    fetalviewer validate ga --hc18 ~/data/HC18 --device cuda
    fetalviewer validate hc --hc18 ~/data/HC18 --out ~/acceptance/hc

Each run writes ``acceptance-<job>.json`` and ``acceptance-<job>.pdf`` into ``--out`` (default: the user data
folder's ``validation/<job>``), with a per-image cache there so an interrupted run (Ctrl-C) continues where
it stopped. ``--json OUT`` writes the summary figures scripts read (planes: macro_f1, per_class_f1,
brain_macro_f1, n_images, n_brain_images, agreement_0_1; ga: valid, scored, vpr_percent; hc:
mean_abs_hc_error_mm, measured, refused).

Exit status: 0 when the run finished (the verdict, PASS / FAIL / NOT COMPARED, is printed and in the
report); 2 for a data folder that is not laid out as published, missing weights or bad arguments (one
line naming the file); 130 when cancelled.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

NAME = "validate"
HELP = "site acceptance test: reproduce the published FetalCLIP/MobileFetalCLIP and HC figures on this installation"

SUMMARY_KEYS = {
    "planes": ("macro_f1", "per_class_f1", "brain_macro_f1", "n_images", "n_brain_images", "agreement_0_1"),
    "ga": ("valid", "scored", "vpr_percent"),
    "hc": ("mean_abs_hc_error_mm", "measured", "refused"),
}


def _common(p: argparse.ArgumentParser) -> None:
    from fetalviewer.commands.options import add_json_option

    p.add_argument("--out", metavar="DIR", help="report and cache folder (default: <user data>/validation/<job>)")
    add_json_option(p, help="write the summary figures as JSON to OUT ('-' = stdout)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fetalviewer.commands.options import add_model_options

    sub = parser.add_subparsers(dest="validate_command", metavar="JOB", required=True)
    planes = sub.add_parser("planes", help="zero-shot planes and brain sub-planes on FETAL_PLANES_DB")
    planes.add_argument("--fetal-planes-db", required=True, metavar="DIR",
                        help="folder with FETAL_PLANES_DB_data.csv and Images/")  # fmt: skip
    planes.add_argument("--split", default="all", choices=("all", "train", "test"), help="rows by the 'Train ' column")
    planes.add_argument("--bootstrap", type=int, default=10_000, metavar="N", help="bootstrap resamples (default 10000)")
    ga = sub.add_parser("ga", help="zero-shot gestational age on the HC18 training set (valid prediction rate)")
    ga.add_argument("--hc18", required=True, metavar="DIR", help="folder with training_set/ and its CSV")
    for p in (planes, ga):
        add_model_options(p, precision=True)
        p.add_argument("--batch-size", type=int, default=8, metavar="B", help="images per model batch")
        p.add_argument("--published", metavar="DIR", help="folder of published per-image outputs to compare with "
                       "(default: FetalCLIP's, shipped with the app, for FetalCLIP weights)")  # fmt: skip
        _common(p)
    hc = sub.add_parser("hc", help="automatic head circumference against the HC18 ground truth")
    hc.add_argument("--hc18", required=True, metavar="DIR", help="folder with training_set/ and its CSV")
    add_model_options(hc, precision=True, weights_help="weights of the backbone of an installed FetalCLIP seg head")
    _common(hc)


class _ProgressLine:
    """One self-overwriting progress line on stderr; ``clear()`` only when something was printed."""

    def __init__(self) -> None:
        self.shown = False

    def __call__(self, p) -> None:
        if sys.stderr is not None:
            print(f"\r{p.text():<78}", end="", file=sys.stderr, flush=True)
            self.shown = True

    def clear(self) -> None:
        if self.shown and sys.stderr is not None:
            print("\r" + " " * 79 + "\r", end="", file=sys.stderr, flush=True)
        self.shown = False


def run(args: argparse.Namespace) -> int:
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.validate.control import RunControl, ValidationCancelled
    from fetalviewer.validate.jobs import JobRequest, run_job

    job = args.validate_command
    try:
        request = JobRequest(
            job=job,
            data_dir=Path(args.fetal_planes_db if job == "planes" else args.hc18),
            out_dir=Path(args.out) if args.out else None,
            split=args.split if job == "planes" else "all",
            model=args.model,
            weights=args.weights,
            config=args.config,
            device=args.device,
            precision=args.precision,
            published_dir=None if job == "hc" else args.published,
            batch_size=8 if job == "hc" else args.batch_size,
            resamples=args.bootstrap if job == "planes" else 0,
        )
    except ValueError as exc:
        print(f"fetalviewer validate {job}: {exc}", file=sys.stderr)
        return 2
    line = _ProgressLine()
    control = RunControl(line)
    try:
        outcome = run_job(request, control)
    except ValidationCancelled as exc:
        line.clear()
        print(f"fetalviewer validate {job}: {exc}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        line.clear()
        print(f"fetalviewer validate {job}: cancelled; a later run continues from the per-image cache in "
              f"{request.output_dir}", file=sys.stderr)  # fmt: skip
        return 130
    except (FetalViewerError, ValueError) as exc:
        line.clear()
        print(f"fetalviewer validate {job}: {exc}", file=sys.stderr)
        return 2
    finally:
        line.clear()
    result = outcome.result
    summary = {k: result.summary[k] for k in SUMMARY_KEYS[job]}
    if args.json:
        text = json.dumps(summary, indent=2)
        if args.json == "-":
            print(text)
        else:
            from fetalviewer.atomic import write_text_atomic

            write_text_atomic(args.json, text)
    if args.json != "-":
        for f in result.figures:
            pub = "" if f.published is None else f" (published {f.published:g}; required {f.tolerance}: {f.status})"
            value = "n/a" if f.value is None else f"{f.value:.5g}"
            print(f"{f.name}: {value}{pub}")
        for note in result.notes:
            print(f"note: {note}")
        print(f"verdict: {result.verdict} - {result.verdict_reason}")
        print(f"report: {outcome.pdf_path}\n        {outcome.json_path}")
    return 0
