"""``python -m fetalviewer`` entry point (also the frozen app's entry point)."""

import multiprocessing
import sys


def run() -> int:
    multiprocessing.freeze_support()
    from fetalviewer.cli import main

    return main()


if __name__ == "__main__":
    sys.exit(run())
