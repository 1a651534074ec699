"""Screenshot of automatic head biometry in the real window (offscreen works).

    QT_QPA_PLATFORM=offscreen python tools/screenshot_biometry.py [--file US_still_254_HC.dcm] OUT.png

Opens the bundled sample study, shows the still, runs "Measure head (automatic)" through the window's
action (default head model on a worker), waits for the result, shows the Biometry tab and grabs the
window: skull contour, fitted ellipse with BPD/OFD, values box with HC/BPD/OFD and GA.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="screenshot of automatic head biometry")
    parser.add_argument("out", help="PNG to write")
    parser.add_argument("--file", default="US_still_254_HC.dcm", help="sample instance to show")
    parser.add_argument("--panel", metavar="PNG", help="also save the whole Biometry panel (unscrolled)")
    args = parser.parse_args(argv)
    if "FETALVIEWER_HOME" not in os.environ:  # keep the user's own exam records out of it
        import tempfile

        os.environ["FETALVIEWER_HOME"] = tempfile.mkdtemp(prefix="fv-shot-")
    from PySide6.QtCore import QEventLoop, QTimer

    from fetalviewer.paths import sample_study_dir
    from fetalviewer.ui.app import ensure_application, save_screenshot

    app = ensure_application()
    from fetalviewer.ui.main_window import MainWindow

    window = MainWindow()
    window.show()

    def wait(signal, ms: int = 120000) -> None:
        loop = QEventLoop()
        signal.connect(lambda *_: loop.quit())
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    window.open_paths([sample_study_dir()])
    wait(window.study_loaded)
    index = next(i for i, lp in enumerate(window.instances) if Path(str(lp.path)).name == args.file)
    window.select_instance(index)
    window.right_tabs.setCurrentWidget(window.biometry.panel)
    window.actions["measure_head"].trigger()
    wait(window.biometry.finished)
    for _ in range(5):
        app.processEvents()
    print(window.biometry.overlay.text)
    print(f"screenshot written to {save_screenshot(window, args.out)}")
    if args.panel:
        from PySide6.QtWidgets import QScrollArea

        body = window.biometry.panel.findChild(QScrollArea).widget()
        body.adjustSize()
        print(f"panel written to {save_screenshot(body, args.panel)}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
