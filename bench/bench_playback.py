"""Playback benchmark of the real window (offscreen): open-to-first-frame, displayed fps, GUI stalls.

    python bench/bench_playback.py [DICOM] [--seconds 5] [--speed 1]

Default file: pydicom-data's ``color3d_jpeg_baseline.dcm`` (120 frames 640x480 JPEG baseline,
FrameTime 33.33 ms). Reports, for one cold open in a fresh process:

* open -> first frame on the canvas (ms), through the window's own loader (worker thread);
* frames displayed per second while playing for ``--seconds`` at ``--speed`` (target: the file's
  fps x speed), frames dropped by the true-time clock;
* the longest GUI-thread stall: the largest gap between ticks of a 2 ms probe timer, minus 2 ms,
  and the slowest frame-display handler (decode + draw).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", nargs="?")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--big-frames", type=int, default=0, metavar="N",
                        help="instead of PATH, play a synthetic N-frame 800x600 JPEG RGB cine (written by "
                             "bench_dicom.write_jpeg_cine) and report the peak memory (budget 1 GB)")
    args = parser.parse_args(argv)
    import tempfile

    os.environ["FETALVIEWER_HOME"] = tempfile.mkdtemp(prefix="fv-bench-")
    path = args.path
    if args.big_frames:
        import importlib.util
        from pathlib import Path

        spec = importlib.util.spec_from_file_location("bench_dicom", Path(__file__).with_name("bench_dicom.py"))
        bench_dicom = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench_dicom)
        path = str(Path(os.environ["FETALVIEWER_HOME"]) / f"synthetic_{args.big_frames}.dcm")
        t = time.perf_counter()
        bench_dicom.write_jpeg_cine(Path(path), n_frames=args.big_frames)
        print(f"synthetic cine written in {time.perf_counter() - t:.1f} s "
              f"({os.path.getsize(path) / 2**20:.0f} MB on disk)")
    elif path is None:
        from pydicom.data import get_testdata_file

        path = get_testdata_file("color3d_jpeg_baseline.dcm")

    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    from fetalviewer.ui.app import ensure_application
    from fetalviewer.ui.main_window import MainWindow

    app = ensure_application()
    win = MainWindow()
    win.show()
    app.processEvents()

    # Time every GUI-thread frame handler: the player's tick handler (which decodes only cached
    # frames while playing) and the display of a frame that the worker decoded.
    handler_ms: list[float] = []

    def timed(original):
        def wrapper(*a):
            t = time.perf_counter()
            original(*a)
            handler_ms.append((time.perf_counter() - t) * 1000.0)
        return wrapper

    win.player.frame_changed.disconnect(win._on_player_frame_changed)
    win.player.frame_changed.connect(timed(win._on_player_frame_changed))
    win.fetcher.ready.disconnect(win._on_fetcher_ready)
    win.fetcher.ready.connect(timed(win._on_fetcher_ready))

    loop = QEventLoop()
    first = {}
    win.frame_displayed.connect(lambda i: first.setdefault("t", time.perf_counter()) and None)
    win.frame_displayed.connect(lambda i: loop.quit())
    t_open = time.perf_counter()
    win.open_paths([path])
    QTimer.singleShot(30000, loop.quit)
    loop.exec()
    if "t" not in first:
        print("the first frame never appeared", file=sys.stderr)
        return 1
    open_ms = (first["t"] - t_open) * 1000.0
    cine = win.current_loop

    # Play and probe the GUI thread.
    gaps: list[float] = []
    probe = QTimer()
    probe.setInterval(2)
    clock = QElapsedTimer()
    clock.start()
    last = {"t": 0}

    def on_probe():
        now = clock.nsecsElapsed() / 1e6
        gaps.append(now - last["t"])
        last["t"] = now

    probe.timeout.connect(on_probe)
    shown = []
    win.frame_displayed.connect(lambda i: shown.append(i))
    handler_ms.clear()
    win.player.set_speed(args.speed)
    win.player.frames_dropped = 0
    start = time.perf_counter()
    last["t"] = clock.nsecsElapsed() / 1e6
    probe.start()
    win.player.play()
    done = QEventLoop()
    QTimer.singleShot(int(args.seconds * 1000), done.quit)
    done.exec()
    win.player.pause()
    probe.stop()
    elapsed = time.perf_counter() - start
    fps = len(shown) / elapsed
    target = (cine.timing.fps or 0) * args.speed
    stall = max(gaps[1:] or [0.0]) - 2.0
    handler_ms.sort()
    p95 = handler_ms[int(0.95 * (len(handler_ms) - 1))] if handler_ms else 0.0
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPU(s), "
          f"{platform.system()} offscreen Qt, no GPU; load average {os.getloadavg()[0]:.1f}")
    print(f"file: {os.path.basename(str(path))}: {cine.n_frames} frames {cine.columns}x{cine.rows} "
          f"{cine.transfer_syntax_name}, {cine.timing.fps:.2f} fps from {cine.timing.source}")
    print(f"open -> first frame: {open_ms:.0f} ms")
    print(f"playback {elapsed:.1f} s at {args.speed:g}x: {fps:.1f} frames displayed/s "
          f"(target {target:.1f}); {win.player.frames_dropped} skipped by the clock, "
          f"{max(int(round(elapsed * target)) - len(shown), 0)} not shown in time")
    print(f"longest GUI-thread stall: {stall:.1f} ms; frame handler median "
          f"{handler_ms[len(handler_ms) // 2] if handler_ms else 0:.1f} ms, p95 {p95:.1f} ms, "
          f"max {handler_ms[-1] if handler_ms else 0:.1f} ms")
    if args.big_frames:
        import resource

        # Play through the whole cine at 4x to touch every frame, then report the peak.
        win.player.set_speed(4.0)
        win.player.play()
        seconds = cine.n_frames / ((cine.timing.fps or 30.0) * 4.0) + 1.0
        done = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), done.quit)
        done.exec()
        win.player.pause()
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"played through {cine.n_frames} frames in {seconds:.0f} s at 4x; peak RSS {rss_mb:.0f} MB "
              f"({'under' if rss_mb < 1024 else 'OVER'} the 1 GB budget)")
    win.close()
    win.deleteLater()  # Qt objects go before the interpreter finalizes
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
