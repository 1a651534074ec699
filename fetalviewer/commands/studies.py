"""``fetalviewer studies``: the local study database, one record per study (counts, status, paths)."""

from __future__ import annotations

import argparse

from fetalviewer.commands.net_common import err, say, write_json
from fetalviewer.commands.options import add_json_option

NAME = "studies"
HELP = "list the local study database (received, retrieved and opened studies); --add indexes folders in place"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--patient-id", metavar="ID", help="only the studies of this patient ID")
    add_json_option(parser)
    parser.add_argument("--add", nargs="+", metavar="PATH", help="index these files/folders in place first")
    parser.add_argument(
        "--set-status", nargs=2, metavar=("STUDY_UID", "STATUS"), help="set a study's status first"
    )


def run(args: argparse.Namespace) -> int:
    from fetalviewer.studydb import STATUSES, open_study_db

    with open_study_db() as db:
        if db.recovery_message:
            err(db.recovery_message)
        if args.add:
            result = db.index_paths(args.add)
            for problem in result.problems:
                err(f"skipped: {problem}")
            say(f"indexed {result.indexed} file(s) of {len(result.study_uids)} study(ies) in place")
        if args.set_status:
            uid, status = args.set_status
            if status not in STATUSES:
                err(f"studies: status {status!r} is not one of {', '.join(STATUSES)}")
                return 2
            try:
                db.set_status(uid, status)
            except KeyError as exc:
                err(f"studies: {exc.args[0]}")
                return 2
        studies = db.list_studies(patient_id=args.patient_id, with_paths=True)
    if args.json:
        write_json(args.json, [s.to_json() for s in studies])
        if args.json == "-":
            return 0
    for s in studies:
        say(
            f"{s.study_date or '--------'}  {s.patient_id or '-':<12} {','.join(s.modalities) or '-':<6} "
            f"{s.n_series:>3} series {s.n_instances:>5} inst  {s.status:<9} {s.study_instance_uid}"
        )
    say(f"{len(studies)} study(ies)")
    return 0
