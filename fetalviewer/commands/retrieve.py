"""``fetalviewer retrieve NODE STUDY_UID...``: copy studies from a node into the archive and database."""

from __future__ import annotations

import argparse
import signal
import threading

from fetalviewer.commands.net_common import err, node_and_local, say, start_log

NAME = "retrieve"
HELP = "retrieve studies from a DICOM node into the local archive (C-GET, C-MOVE or WADO-RS)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("node", metavar="NODE", help="a node configured with 'fetalviewer nodes add'")
    parser.add_argument("study_uids", nargs="+", metavar="STUDY_UID")
    parser.add_argument("--via", choices=("get", "move", "wado"),
                        help="C-GET (default for DIMSE nodes), C-MOVE, or WADO-RS (default for DICOMweb-only)")
    parser.add_argument("--aet", metavar="AET", help="local AE title (default from the settings)")
    parser.add_argument("--port", type=int, metavar="PORT", help="local port for C-MOVE (default from the settings)")


def run(args: argparse.Namespace) -> int:
    start_log()
    from fetalviewer.cli import EXIT_BAD_INPUT, EXIT_OK
    from fetalviewer.errors import UsageError
    from fetalviewer.net.retrieve import retrieve
    from fetalviewer.studydb import is_valid_uid, open_study_db

    bad = [u for u in args.study_uids if not is_valid_uid(u)]
    if bad:
        raise UsageError(f"retrieve: {', '.join(bad)}: not a DICOM UID")
    node, local = node_and_local(args.node, args.aet, args.port)
    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    last = [-1]

    def progress(done: int, total: int | None) -> None:
        if done != last[0]:
            last[0] = done
            say(f"retrieved {done}{'/' + str(total) if total else ''} instance(s)")

    try:
        with open_study_db() as db:
            if db.recovery_message:
                err(db.recovery_message)
            result = retrieve(node, local, args.study_uids, db, args.via, progress, cancel)
    finally:
        signal.signal(signal.SIGINT, previous)
    for problem in result.problems:
        err(f"not stored: {problem}")
    say(f"{result.stored} instance(s) stored in the archive from {node.name}, {result.failed} failed"
        f"{', cancelled' if result.cancelled else ''}")  # fmt: skip
    if result.cancelled:
        return 130
    return EXIT_OK if result.failed == 0 else EXIT_BAD_INPUT  # a refused operation, named above
