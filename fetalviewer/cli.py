"""The ``fetalviewer`` command line: one entry point for the window and every scripted feature.

``fetalviewer [PATH...]`` opens the window; ``fetalviewer SUBCOMMAND ...`` runs a feature without it.
Each subcommand is a module under :mod:`fetalviewer.commands` named in :data:`COMMAND_MODULES` that
exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; shared options come
from :mod:`fetalviewer.commands.options`. Adding a command is one line in :data:`COMMAND_MODULES`.

Exit status, the same for every command (:func:`run_command`):

* 0 - done;
* 1 - the command ran but found nothing to do or produce (its own message), or an internal error: a
  crash report is written to the log folder and its path printed, no traceback on the terminal;
* 2 - bad input or a refused operation: a :class:`~fetalviewer.errors.FetalViewerError` (or an OS
  error naming a file) left the command; its message, which names the file or peer and the
  problem, is printed on one line. Unknown words (neither a command nor an existing path) also
  exit 2.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

from fetalviewer import __version__
from fetalviewer.errors import FetalViewerError

log = logging.getLogger(__name__)

#: Subcommand modules of :mod:`fetalviewer.commands`, in the order ``--help`` lists them.
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
    "studies",
    "nodes",
    "query",
    "retrieve",
    "receive",
    "send",
    "validate",
)

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def load_commands() -> dict[str, ModuleType]:
    """Command name -> module, for every module in :data:`COMMAND_MODULES` (all must import)."""
    commands: dict[str, ModuleType] = {}
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(f"fetalviewer.commands.{module_name}")
        commands[module.NAME] = module
    return commands


def build_parser(commands: dict[str, ModuleType] | None = None) -> argparse.ArgumentParser:
    commands = load_commands() if commands is None else commands
    parser = argparse.ArgumentParser(
        prog="fetalviewer",
        description=(
            "Review fetal ultrasound DICOM offline with FetalCLIP decision support.\n"
            "'fetalviewer [PATH...]' opens the window on files, folders or a DICOMDIR; "
            "the subcommands below script the same features without the window."
        ),
        epilog=(
            "exit status: 0 done; 1 nothing produced, or an internal error (crash report path printed); "
            "2 bad input or refused operation (the file and the problem are named)"
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


def _error(text: str) -> None:
    if sys.stderr is not None:
        print(text, file=sys.stderr, flush=True)


def run_command(name: str, run: Callable[[argparse.Namespace], int | None], args: argparse.Namespace) -> int:
    """``run(args)`` with the exit-status mapping of the module docstring applied."""
    try:
        return int(run(args) or 0)
    except FetalViewerError as exc:
        _error(f"fetalviewer {name}: error: {exc}")
        return EXIT_BAD_INPUT
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):  # output piped into e.g. 'head' that closed early
            return EXIT_OK
        if exc.filename is None:
            return _internal(name, exc)
        _error(f"fetalviewer {name}: error: {exc.filename}: {exc.strerror or exc}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _error(f"fetalviewer {name}: interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - every other failure is an internal error, reported
        return _internal(name, exc)


def _internal(name: str, exc: BaseException) -> int:
    from fetalviewer.crash import write_crash_report
    from fetalviewer.logsetup import redact

    log.error("fetalviewer %s: internal error", name, exc_info=exc)
    try:
        where = f"details in {write_crash_report(type(exc), exc, exc.__traceback__)}"
    except Exception as report_exc:  # noqa: BLE001 - the log folder itself is broken
        where = f"no crash report could be written ({report_exc})"
    # The crash report's path is the app's own log folder: only the exception text can carry identifiers.
    _error(f"fetalviewer {name}: internal error ({redact(f'{type(exc).__name__}: {exc}')}); {where}")
    return EXIT_INTERNAL


def _unknown_word(word: str, commands: dict[str, ModuleType]) -> str | None:
    """The message for a first argument that is neither a command nor an existing path, else None."""
    if not word or word.startswith("-") or word in commands:
        return None
    try:
        if Path(word).exists():
            return None
    except (OSError, ValueError):  # e.g. a name too long for the file system
        pass
    close = difflib.get_close_matches(word, list(commands), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return (
        f"fetalviewer: '{word}' is neither a command nor an existing file or folder{hint}; "
        "see 'fetalviewer --help'"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = load_commands()
    parser = build_parser(commands)
    if "--self-test" in argv and "self-test" in commands:
        argv = ["self-test"] + [a for a in argv if a != "--self-test"]
    elif argv and (problem := _unknown_word(argv[0], commands)):
        _error(problem)
        return EXIT_BAD_INPUT
    elif not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help", "--version")):
        # Bare paths (or nothing): open the window.
        argv = ["view", *argv]
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    return run_command(args.command, args._run, args)


if __name__ == "__main__":
    sys.exit(main())
