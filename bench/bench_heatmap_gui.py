"""GUI-thread cost of the workspace heat map while it is switched on (run by hand, offscreen).

Opens pydicom-data's 120-frame colour cine in the real window, gives it analysis results (random class
maps: the cost does not depend on the values, and no model is needed), switches the heat map on and steps
through the frames. Prints, per GUI handler call of ``WorkspaceView._refresh_heatmap``: the time on a
frame not yet computed (the map is computed on the background thread), on a revisited frame (per-frame
cache), and the cost of the computation itself (what the GUI thread used to pay on every frame).

    QT_QPA_PLATFORM=offscreen python bench/bench_heatmap_gui.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    from pydicom.data import get_testdata_file

    from fetalviewer.ui.app import ensure_application
    from fetalviewer.ui.main_window import MainWindow
    from fetalviewer.workspace.heatmap import heatmap_rgba
    from fetalviewer.workspace.results import InstanceAnalysis

    app = ensure_application()
    win = MainWindow()
    win.show()
    win.open_paths([get_testdata_file("color3d_jpeg_baseline.dcm")])
    deadline = time.monotonic() + 30
    while not win.instances and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    ws, view = win.workspace, win.workspace.view
    loop = win.instances[0]
    rng = np.random.default_rng(0)
    n, planes = loop.n_frames, 9
    analysis = InstanceAnalysis(loop.sop_instance_uid, n, tuple(f"p{k}" for k in range(planes)), ("a", "b", "c"),
                                8)
    analysis.store(list(range(n)), plane_probs=rng.dirichlet(np.ones(planes), n).astype(np.float32),
                   brain_probs=np.full((n, 3), 1 / 3, np.float32), ga_days=np.full(n, np.nan, np.float32),
                   embeddings=rng.normal(size=(n, 8)).astype(np.float32),
                   class_maps=rng.normal(size=(n, planes, 16, 16)).astype(np.float32))
    ws.results[loop.sop_instance_uid] = analysis
    ws.heatmap_on = True

    def step(frame: int) -> float:
        ws.set_current(loop.sop_instance_uid, frame)  # the handler the frame change runs
        t0 = time.perf_counter()
        view._refresh_heatmap()
        return (time.perf_counter() - t0) * 1000

    def settle() -> None:
        end = time.monotonic() + 2
        while view._heat_running is not None and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.002)

    first, again = [], []
    frames = list(range(0, n, 4))
    for f in frames:
        first.append(step(f))
        settle()
    for f in frames:
        again.append(step(f))
    target = ws.targets[0]
    compute = []
    for f in frames[:10]:
        t0 = time.perf_counter()
        heatmap_rgba(analysis.class_maps[f], 0, loop.rows, loop.columns, target.crop_box_px, view._lut, 150)
        compute.append((time.perf_counter() - t0) * 1000)
    print(f"frame {loop.rows} x {loop.columns}, {len(frames)} frames; GUI handler ms (median / max):")
    print(f"  new frame (computed in the background): {statistics.median(first):.2f} / {max(first):.2f}")
    print(f"  revisited frame (per-frame cache):      {statistics.median(again):.2f} / {max(again):.2f}")
    print(f"  the computation itself (off the GUI):    {statistics.median(compute):.2f} / {max(compute):.2f}")
    win.player.pause()
    win.close()
    ws.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
