"""``python -m fetalviewer`` and the frozen app's entry point.

Frozen-app traps handled here, before anything else is imported: ``freeze_support()`` first;
windowed builds have ``sys.stdout``/``sys.stderr`` set to None (print and argparse would fail);
no network at start (the hubs' offline flags are set, weights are only ever loaded from a path the
user gives); uncaught exceptions go to a crash report in the log folder.
"""

import multiprocessing
import os
import sys


def _guard_missing_streams() -> None:
    if sys.stdout is None or sys.stderr is None:
        sink = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        if sys.stdout is None:
            sys.stdout = sink
        if sys.stderr is None:
            sys.stderr = sink


def run() -> int:
    multiprocessing.freeze_support()
    _guard_missing_streams()
    for flag in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(flag, "1")
    from fetalviewer.crash import install_crash_handler

    install_crash_handler()
    from fetalviewer.cli import main

    return main()


if __name__ == "__main__":
    sys.exit(run())
