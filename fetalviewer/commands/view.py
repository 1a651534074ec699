"""``fetalviewer [PATH...]``: open the review window (files, folders, DICOMDIR)."""

from __future__ import annotations

import argparse

NAME = "view"
HELP = "open the review window on DICOM files, folders or a DICOMDIR (the default command)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="DICOM files, folders or DICOMDIR")
    parser.add_argument("--sample", action="store_true", help="open the bundled sample study")
    parser.add_argument("--weights", metavar="W", help="FetalCLIP weights file for this session")
    parser.add_argument(
        "--screenshot", metavar="PNG", help="render the window offscreen, save a screenshot and exit"
    )


def run(args: argparse.Namespace) -> int:
    # Imported here so that the command line starts without Qt for every other subcommand.
    from fetalviewer.ui.app import run_app

    return run_app(args)
