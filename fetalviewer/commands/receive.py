"""``fetalviewer receive``: run the Storage SCP in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading

from fetalviewer.commands.net_common import err, say, start_log

NAME = "receive"
HELP = "receive studies by DICOM C-STORE (Storage SCP) into the archive until interrupted"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--aet", metavar="AET", help="our AE title (default from the settings)")
    parser.add_argument("--port", type=int, metavar="PORT", help="port to listen on (default from the settings)")
    parser.add_argument("--allow", nargs="+", metavar="AET",
                        help="calling AE titles allowed to send (default from the settings; '*' any)")


def run(args: argparse.Namespace) -> int:
    start_log()
    from fetalviewer.errors import UsageError
    from fetalviewer.net.nodes import local_ae_from_settings
    from fetalviewer.net.scp import StorageServer
    from fetalviewer.studydb import open_study_db

    try:
        local = local_ae_from_settings().with_overrides(args.aet, args.port, tuple(args.allow or ()) or None)
    except ValueError as exc:
        raise UsageError(f"receive: {exc}") from exc
    if not local.allow_aets:
        raise UsageError("receive: no calling AE title is allowed; give --allow AET... ('*' for any caller)")
    stop = threading.Event()
    handlers = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    db = open_study_db()
    try:
        if db.recovery_message:
            err(db.recovery_message)
        server = StorageServer(local, db, on_stored=lambda study, path: say(f"stored {path}")).start()
        say(f"receiving as {local.aet} on port {server.port} from {', '.join(local.allow_aets)}; "
            "Ctrl+C to stop")  # fmt: skip
        while not stop.wait(0.2):
            pass
        server.stop()
    finally:
        for sig, previous in handlers.items():
            signal.signal(sig, previous)
        db.close()
    tally = server.tally
    say(f"stopped: {tally.stored} instance(s) stored, {tally.refused} refused")
    return 0
