"""``fetalviewer send NODE PATH...``: C-STORE or STOW-RS of files and folders, one status per file."""

from __future__ import annotations

import argparse

from fetalviewer.commands.net_common import err, node_and_local, say, start_log, write_json
from fetalviewer.commands.options import add_json_option, require_existing

NAME = "send"
HELP = "send DICOM files or folders to a node (C-STORE, or STOW-RS for DICOMweb-only nodes)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("node", metavar="NODE", help="a node configured with 'fetalviewer nodes add'")
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument("--via", choices=("dimse", "stow"), help="default: dimse when the node has it")
    add_json_option(parser, help="write one status record per file as JSON to OUT ('-' = stdout)")


def send_and_report(node_name: str, paths, via: str | None = None, json_out: str | None = None) -> int:
    """Send ``paths`` and print one line per file; 0 when all were stored, 2 (a refused operation, as in
    every command) when any was not: its line names the file and the reason."""
    from fetalviewer.cli import EXIT_BAD_INPUT, EXIT_OK
    from fetalviewer.net.send import send_files

    node, local = node_and_local(node_name)
    statuses = send_files(node, local, paths, via, progress=lambda s: say(
        f"{'sent' if s.ok else 'FAILED'}: {s.path}: {s.detail}"))  # fmt: skip
    if json_out:
        write_json(json_out, [s.to_json() for s in statuses])
    failed = [s for s in statuses if not s.ok]
    (err if failed else say)(f"{len(statuses) - len(failed)} of {len(statuses)} file(s) stored on {node.name}")
    return EXIT_BAD_INPUT if failed else EXIT_OK


def run(args: argparse.Namespace) -> int:
    start_log()
    paths = require_existing(args.paths)
    return send_and_report(args.node, paths, args.via, args.json)
