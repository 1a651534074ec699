"""``fetalviewer batch SOURCE... --out DIR``: plane, sub-plane and GA read-outs of every frame of an archive.

Runs in process (``--engine local``, the default) or on Ray (``--engine ray``: a local Ray runtime, or the
cluster at ``--ray-address``). Writes ``frames-*.parquet``, ``studies.parquet``/``.csv``,
``problems.csv`` and ``summary.html`` into DIR; a rerun of the same command resumes (see
:mod:`fetalviewer.batch`). Exit 0 when every file was handled (problems are listed, not fatal), 2 for bad
input or an unusable Ray cluster, 130 after Ctrl-C (finished work kept).
"""

from __future__ import annotations

import argparse
import sys

from fetalviewer.commands.options import add_model_options
from fetalviewer.errors import UsageError

NAME = "batch"
HELP = (
    "analyse every frame of many studies (folders, DICOMDIRs, files) into Parquet/CSV tables and a summary "
    "page, in process or on a Ray cluster; resumable"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="DICOM files, folders, DICOMDIRs, or node:NAME (studies matching the query options below, "
        "retrieved into the local archive first)",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (a rerun resumes in it)")
    add_model_options(parser, precision=True)
    parser.add_argument(
        "--step", type=int, default=1, metavar="N", help="analyse every Nth frame (default 1)"
    )
    parser.add_argument("--engine", default="local", choices=("local", "ray"), help="default: local")
    parser.add_argument(
        "--ray-address", metavar="HOST:PORT", help="join this Ray cluster (default: start a local runtime)"
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="Ray workers, one model each (default: GPUs, else CPUs)"
    )
    parser.add_argument("--batch-size", type=int, metavar="B", help="frames per model batch")
    parser.add_argument(
        "--threshold",
        type=float,
        metavar="P",
        help="checklist threshold 0..1 (default: the uncertain_threshold_0_1 setting)",
    )
    group = parser.add_argument_group("node:NAME sources (the keys of 'fetalviewer query')")
    group.add_argument("--patient-id", metavar="ID", default="")
    group.add_argument("--patient-name", metavar="PATTERN", default="", help="wildcards * and ? allowed")
    group.add_argument("--study-date", metavar="YYYYMMDD[-YYYYMMDD]", default="")
    group.add_argument("--accession", metavar="A", default="")
    group.add_argument(
        "--modality", metavar="MOD", default="US", help="modality in study (default US; '' any)"
    )
    parser.add_argument(
        "--part-frames",
        type=int,
        default=20000,
        metavar="N",
        help="frames per part file (a crash loses at most this much work; default 20000)",
    )


def run(args: argparse.Namespace) -> int:
    from fetalviewer.batch.runner import BatchConfig, run_batch
    from fetalviewer.batch.sources import NodeQuery
    from fetalviewer.batch.worker import ModelSpec
    from fetalviewer.settings import load_settings

    threshold = args.threshold
    if threshold is None:
        threshold = float(load_settings()["uncertain_threshold_0_1"])
    try:
        config = BatchConfig(
            sources=tuple(args.sources),
            out=args.out,
            spec=ModelSpec(
                args.model, args.weights, args.config, args.device, args.batch_size, args.precision
            ),
            step=args.step,
            engine=args.engine,
            ray_address=args.ray_address,
            workers=args.workers,
            threshold_0_1=threshold,
            part_frames=args.part_frames,
            node_query=NodeQuery(
                args.patient_id, args.patient_name, args.study_date, args.accession, args.modality
            ),
        )
        if args.workers is not None and args.workers < 1:
            raise ValueError("--workers must be 1 or more")
    except ValueError as exc:
        raise UsageError(f"batch: {exc}") from exc
    try:
        report = run_batch(config)
    except KeyboardInterrupt:
        print(
            "\nstopped: finished files are saved in the output folder; rerun the same command to continue",
            file=sys.stderr,
        )
        return 130
    print(report.summary_line(args.out))
    return 0
