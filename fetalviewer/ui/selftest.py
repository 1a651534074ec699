"""The window part of ``fetalviewer self-test``: open a study offscreen and show its first frame."""

from __future__ import annotations

from PySide6.QtCore import QEventLoop, QTimer

from fetalviewer.ui.app import ensure_application


def self_test_window(paths: list[str], timeout_ms: int = 60_000) -> str:
    """Open ``paths`` in a real MainWindow, wait until a frame is displayed, close; return a summary.

    Raises RuntimeError when nothing opens or no frame is displayed within ``timeout_ms``.
    """
    app = ensure_application()
    from fetalviewer.ui.main_window import MainWindow

    window = MainWindow()
    window.show()
    loop = QEventLoop()
    seen = {"instances": 0, "frames": 0}

    def _on_loaded(count: int) -> None:
        seen["instances"] = count

    def _on_frame(_index: int) -> None:
        seen["frames"] += 1
        loop.quit()

    window.study_loaded.connect(_on_loaded)
    window.frame_displayed.connect(_on_frame)
    QTimer.singleShot(timeout_ms, loop.quit)
    try:
        window.open_paths(paths)
        if not seen["frames"]:
            loop.exec()
        app.processEvents()
        if not seen["frames"]:
            raise RuntimeError(f"no frame displayed within {timeout_ms / 1000:.0f} s ({seen['instances']} instances)")
        size = window.grab().size()
        return f"{seen['instances']} instances, first frame shown, window {size.width()}x{size.height()}"
    finally:
        window.close()
        window.deleteLater()
        app.processEvents()
