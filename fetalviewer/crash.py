"""Last-resort crash handling: write a report to the log folder and tell the user where it is.

The report holds the traceback, versions and platform, never patient data (it passes through the
same redaction as the logs). The window installs a callback that shows a dialog; the command line
prints one line to stderr (when there is a stderr: windowed frozen builds have none).
"""

from __future__ import annotations

import datetime as _dt
import platform
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from fetalviewer import __version__
from fetalviewer.atomic import write_text_atomic
from fetalviewer.logsetup import redact
from fetalviewer.paths import user_dirs

ShowCallback = Callable[[str, Path], None]


def write_crash_report(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> Path:
    """Write a crash report file and return its path."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    path = user_dirs().log_dir / f"crash-{stamp}.txt"
    body = "".join(traceback.format_exception(exc_type, exc, tb))
    text = (
        f"FetalViewer {__version__} crash report\n"
        f"time: {_dt.datetime.now().isoformat(timespec='seconds')}\n"
        f"python: {sys.version.split()[0]} on {platform.platform()}\n"
        f"frozen: {bool(getattr(sys, 'frozen', False))}\n\n"
        f"{redact(body)}"
    )
    write_text_atomic(path, text)
    return path


def install_crash_handler(show: ShowCallback | None = None) -> None:
    """Route uncaught exceptions (main and worker threads) to a crash report.

    ``show(summary, report_path)`` is called after the report is written, e.g. to show a dialog.
    """

    def _handle(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        if issubclass(exc_type, BrokenPipeError):  # output piped into e.g. 'head' that closed early
            return
        try:
            path = write_crash_report(exc_type, exc, tb)
        except Exception:  # the log folder itself is broken: fall back to stderr
            path = None
        summary = redact(f"{exc_type.__name__}: {exc}")
        if sys.stderr is not None:
            print(f"FetalViewer hit an unexpected error ({summary}); report: {path}", file=sys.stderr)
        if show is not None and path is not None:
            try:
                show(summary, path)
            except Exception:
                pass

    def _thread_hook(args: threading.ExceptHookArgs) -> None:
        _handle(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = _handle
    threading.excepthook = _thread_hook
