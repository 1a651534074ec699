"""Screenshot of the review window with a study open and calipers drawn (for looking at the UI).

    QT_QPA_PLATFORM=offscreen python tools/screenshot.py OUT.png [DICOM ...] [--frame N]
        [--distance X1 Y1 X2 Y2] [--ellipse CX CY A B ANGLE] [--size W H]

Without DICOM paths it opens the bundled sample study (or pydicom-data's 120-frame cine).
Calipers are drawn through the window's own measurement path, in image pixel coordinates.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _default_paths() -> list[str]:
    from fetalviewer.paths import sample_study_dir

    sample = sample_study_dir()
    if sample.is_dir() and any(sample.rglob("*.dcm")):
        return [str(sample)]
    from pydicom.data import get_testdata_file

    return [get_testdata_file("color3d_jpeg_baseline.dcm")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--instance", type=int, default=0)
    parser.add_argument("--frame", type=int, default=0)
    parser.add_argument("--distance", type=float, nargs=4, action="append", default=[])
    parser.add_argument("--ellipse", type=float, nargs=5, action="append", default=[])
    parser.add_argument("--labels", nargs="*", default=[], help="labels for the calipers, in order "
                        "(distances first, then ellipses), e.g. BPD HC")
    parser.add_argument("--size", type=int, nargs=2, default=(1500, 920))
    parser.add_argument("--keep-home", action="store_true", help="use the real user folders")
    args = parser.parse_args(argv)
    if not args.keep_home:  # do not write exam records of a screenshot into the user's data
        os.environ["FETALVIEWER_HOME"] = tempfile.mkdtemp(prefix="fv-shot-")

    from PySide6.QtCore import QEventLoop, QTimer

    from fetalviewer.ui.app import ensure_application, save_screenshot
    from fetalviewer.ui.main_window import MainWindow

    app = ensure_application()
    win = MainWindow()
    win.resize(*args.size)
    win.show()
    loop = QEventLoop()
    win.loader.thumbnails_done.connect(loop.quit)
    win.study_loaded.connect(lambda n: None if n else loop.quit())  # nothing opened: no thumbnails
    QTimer.singleShot(60000, loop.quit)
    win.open_paths(args.paths or _default_paths())
    loop.exec()
    if not win.instances:
        print("nothing could be opened; see the problems panel in the screenshot", file=sys.stderr)
    else:
        win.select_instance(args.instance)
        win.player.seek(args.frame)
        cine = win.current_loop
        frame = win.player.index
        made = []
        for x1, y1, x2, y2 in args.distance:
            made.append(win.measurements.add(cine, frame, "distance", {"points_px": ((x1, y1), (x2, y2))}))
        for cx, cy, a, b, ang in args.ellipse:
            made.append(win.measurements.add(cine, frame, "ellipse", {
                "center_px": (cx, cy), "semi_axes_px": (a, b), "angle_deg": ang}))
        for m, label in zip(made, args.labels, strict=False):
            win.measurements.set_label(m.measurement_id, label)
        if made:
            win.measurements.select(made[-1].measurement_id)
    for _ in range(5):
        app.processEvents()
    out = save_screenshot(win, args.out)
    print(out)
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
