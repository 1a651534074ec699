"""Start the window: ``run_app(args)`` is what ``fetalviewer [PATH...]`` calls.

The window is shown before anything heavy (torch, open_clip) is imported; this package never
imports them at module level. ``--screenshot PNG`` renders the window (offscreen works) once the
study has loaded and its first frame is shown, writes the PNG atomically and exits 0.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from fetalviewer.atomic import atomic_path
from fetalviewer.crash import install_crash_handler
from fetalviewer.logsetup import configure_logging
from fetalviewer.paths import sample_study_dir
from fetalviewer.ui.theme import apply_dark_theme

log = logging.getLogger(__name__)
_CONFIGURED = False


def configure_pyqtgraph() -> None:
    """Row-major images, no OpenGL, antialiased calipers; done once before any item exists."""
    global _CONFIGURED
    if not _CONFIGURED:
        pg.setConfigOptions(imageAxisOrder="row-major", useOpenGL=False, antialias=True)
        _CONFIGURED = True


def ensure_application() -> QApplication:
    configure_pyqtgraph()
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName("FetalViewer")
        app.setOrganizationName("FetalViewer")
    apply_dark_theme(app)
    return app


def save_screenshot(window, png_path: str | Path) -> Path:
    """Render ``window`` into ``png_path`` (atomic write)."""
    QApplication.processEvents()
    pixmap = window.grab()
    target = Path(png_path)
    with atomic_path(target, suffix=".png") as tmp:
        if not pixmap.save(str(tmp), "PNG"):
            raise OSError(f"could not write the screenshot {target}")
    return target


def run_app(args) -> int:
    """Create the application and main window, open what ``args`` asks for, and run.

    Returns 2 with a message naming the missing libraries when Qt's xcb plugin could not start (Qt would
    abort the process instead)."""
    from fetalviewer.ui.platform_check import xcb_problem

    problem = xcb_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    configure_logging()
    app = ensure_application()
    from fetalviewer.ui.main_window import MainWindow

    window = MainWindow()
    install_crash_handler(window.report_unexpected_error)
    if not getattr(args, "screenshot", None):  # screenshots always use the default layout
        window.persist_layout = True
        window.restore_layout()
    window.show()
    paths = [str(p) for p in (getattr(args, "paths", None) or [])]
    if getattr(args, "sample", False):
        paths.insert(0, str(sample_study_dir()))
    weights = getattr(args, "weights", None)
    if weights:
        window.weights_path = str(weights)  # consumed by the analysis workspace when present
    screenshot = getattr(args, "screenshot", None)
    if screenshot:
        return _screenshot_and_close(app, window, paths, screenshot)
    if paths:
        window.open_paths(paths)
    # First start (fetalviewer/ui/first_run.py): the sample once, then ask for the weights.
    from fetalviewer.ui.first_run import run_first_start

    run_first_start(window, paths_given=bool(paths))
    log.info("window shown")
    code = int(app.exec())
    _dispose(app, window)
    return code


def _dispose(app: QApplication, window) -> None:
    """Delete the window's Qt objects while Python is still fully alive (not during finalization)."""
    window.close()
    window.deleteLater()
    app.sendPostedEvents(None, QEvent.DeferredDelete)


def _screenshot_and_close(app: QApplication, window, paths: list[str], png_path: str) -> int:
    """Load ``paths``, let the first frame and the thumbnails render, save the PNG, close the window.

    Runs a local event loop rather than ``app.exec()``/``app.quit()``: quitting the application
    would make every later event loop of this process return at once (Qt's quitNow flag).
    """
    loop = QEventLoop()
    if paths:
        # After the thumbnails (or at once when nothing opened), plus a moment to render.
        window.loader.thumbnails_done.connect(lambda: QTimer.singleShot(300, loop.quit))
        window.study_loaded.connect(lambda n: None if n else QTimer.singleShot(300, loop.quit))
        window.open_paths(paths)
        QTimer.singleShot(120_000, loop.quit)  # a load that never ends still gives a picture
    else:
        QTimer.singleShot(300, loop.quit)
    loop.exec()
    code = 0
    try:
        out = save_screenshot(window, png_path)
        print(f"screenshot written to {out}")
    except OSError as exc:
        print(f"fetalviewer: {exc}", file=sys.stderr)
        code = 1
    _dispose(app, window)
    return code
