"""The ``fetalviewer`` command line: one entry point for the window and every scripted feature.

``fetalviewer [PATH...]`` opens the window; ``fetalviewer SUBCOMMAND ...`` runs a feature without it.
Each subcommand lives in its own module under :mod:`fetalviewer.commands` and exposes
``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``. Subcommand modules
reuse the same Qt-free services as the window.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from fetalviewer import __version__

#: Subcommand modules, in the order ``--help`` lists them. A module that is missing (not yet
#: written) is skipped so that the rest of the command line keeps working.
COMMAND_MODULES: tuple[str, ...] = (
    "view",
    "info",
    "frame",
    "analyze",
    "weights",
    "measure",
    "report",
    "batch",
    "deidentify",
    "train_head",
    "self_test",
)


def _load_commands() -> dict[str, object]:
    commands: dict[str, object] = {}
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"fetalviewer.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"fetalviewer.commands.{module_name}":
                continue
            raise
        commands[module.NAME] = module
    return commands


def build_parser(commands: dict[str, object] | None = None) -> argparse.ArgumentParser:
    commands = _load_commands() if commands is None else commands
    parser = argparse.ArgumentParser(
        prog="fetalviewer",
        description=(
            "Review fetal ultrasound DICOM offline with FetalCLIP decision support.\n"
            "'fetalviewer [PATH...]' opens the window on files, folders or a DICOMDIR; "
            "the subcommands below script the same features without the window."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fetalviewer {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="run the offscreen self-test (same as 'fetalviewer self-test') and exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in commands.items():
        sub_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _load_commands()
    parser = build_parser(commands)
    if "--self-test" in argv and "self-test" in commands:
        argv = ["self-test"] + [a for a in argv if a != "--self-test"]
    elif not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help", "--version")):
        # Bare paths (or nothing): open the window.
        argv = ["view", *argv]
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
