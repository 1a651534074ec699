"""``fetalviewer query NODE``: find studies on a node (C-FIND study level, or QIDO-RS)."""

from __future__ import annotations

import argparse

from fetalviewer.commands.net_common import node_and_local, say, start_log, write_json
from fetalviewer.commands.options import add_json_option

NAME = "query"
HELP = "find studies on a DICOM node (C-FIND or QIDO-RS): one record per study"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("node", metavar="NODE", help="a node configured with 'fetalviewer nodes add'")
    parser.add_argument("--patient-id", metavar="ID", default="")
    parser.add_argument("--patient-name", metavar="PATTERN", default="", help="wildcards * and ? allowed")
    parser.add_argument("--study-date", metavar="YYYYMMDD[-YYYYMMDD]", default="")
    parser.add_argument("--accession", metavar="A", default="")
    parser.add_argument("--modality", metavar="MOD", default="US", help="modality in study (default US; '' any)")
    parser.add_argument("--series", action="store_true", help="also list each study's series")
    add_json_option(parser)


def run(args: argparse.Namespace) -> int:
    start_log()
    from fetalviewer.errors import UsageError
    from fetalviewer.net.query import StudyQuery, find_series, find_studies

    try:
        query = StudyQuery(args.patient_id, args.patient_name, args.study_date, args.accession, args.modality)
    except ValueError as exc:
        raise UsageError(f"query: {exc}") from exc
    node, local = node_and_local(args.node)
    studies = find_studies(node, local, query)
    if args.series:
        for study in studies:
            study["series"] = find_series(node, local, study["study_instance_uid"])
    if args.json:
        write_json(args.json, studies)
        if args.json == "-":
            return 0
    for s in studies:
        say(f"{s['study_date'] or '--------'}  {s['patient_id'] or '-':<12} {s['accession_number'] or '-':<10} "
            f"{','.join(s['modalities_in_study']) or '-':<6} {s['n_series'] or '?':>3} series  "
            f"{s['study_instance_uid']}")  # fmt: skip
        for r in s.get("series", []):
            say(f"    series {r['series_number'] or '-':>4} {r['modality']:<4} {r['n_instances'] or '?':>4} inst  "
                f"{r['series_description']}")  # fmt: skip
    say(f"{len(studies)} study(ies) on {node.name}")
    return 0
