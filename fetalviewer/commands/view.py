"""``fetalviewer [PATH...]``: open the review window (files, folders, DICOMDIR)."""

from __future__ import annotations

import argparse

from fetalviewer.commands.options import add_paths_argument, require_existing

NAME = "view"
HELP = "open the review window on DICOM files, folders or a DICOMDIR (the default command)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_paths_argument(parser, nargs="*", help="DICOM files, folders or DICOMDIR")
    parser.add_argument("--sample", action="store_true", help="open the bundled sample study")
    parser.add_argument("--weights", metavar="W", help="FetalCLIP weights file for this session")
    parser.add_argument(
        "--screenshot", metavar="PNG", help="render the window offscreen, save a screenshot and exit"
    )


def run(args: argparse.Namespace) -> int:
    # A path that does not exist is refused before the window starts (a script would wait on it).
    require_existing(args.paths)
    if args.weights:
        require_existing([args.weights])
    # Imported here so that the command line starts without Qt for every other subcommand.
    from fetalviewer.ui.app import run_app

    return run_app(args)
