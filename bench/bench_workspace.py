"""Benchmark of the review workspace on the 120-frame sample cine, run by hand (not a test).

    python bench/bench_workspace.py [--fill-frames N] [--full] [--config tiny.json]

Default cine: the bundled sample ``resources/sample/US_cine_436_HC.dcm`` (120 frames, 640x480).
What it measures, in the real window (offscreen) with the real engine and the FULL-SIZE FetalCLIP
architecture (ViT-L/14, random weights saved once in the official checkpoint format):

* time until the whole timeline shows a first value (the first pass over every k-th frame is done);
* time to the complete analysis: measured with ``--full``; otherwise the first pass plus ``--fill-frames``
  fill frames are measured and the rest extrapolated from the measured fill rate (said in the output);
* the longest GUI-thread stall while the analysis runs and the cine PLAYS (a 5 ms QTimer heartbeat: the
  largest gap between ticks minus the period), the longest workspace refresh handler, playback frames
  shown/dropped;
* the process's peak resident memory (with ``--cine`` a long cine: the window's bound);
* the reopen time from the cache: a fresh window opens the study and shows every analysed value with no
  model loaded (time from ``open_paths`` to the cache signal, and from the study being on screen).

Prints one JSON object. Sets torch to the inference service's CPU thread count (one core left to the UI).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (VmHWM; Linux)."""
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024


def make_random_weights(config: Path, out: Path) -> Path:
    """Random-weight checkpoint of ``config`` in the official format (written once, reused)."""
    if out.exists():
        return out
    import torch

    from fetalviewer.model.loader import build_model, register_config

    name, _ = register_config(config)
    torch.manual_seed(0)
    model = build_model(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": 0}, tmp)
    tmp.replace(out)
    return out


def wait_for(app, predicate, timeout_s: float) -> bool:
    end = time.perf_counter() + timeout_s
    while time.perf_counter() < end:
        app.processEvents()
        if predicate():
            return True
        time.sleep(0.002)
    return False


class Heartbeat:
    def __init__(self, period_ms: int = 5) -> None:
        from PySide6.QtCore import QTimer

        self.period_s = period_ms / 1000
        self.max_gap_s = 0.0
        self.gaps_over_50ms = 0
        self._last = None
        self.timer = QTimer()
        self.timer.setInterval(period_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            gap = now - self._last - self.period_s
            self.max_gap_s = max(self.max_gap_s, gap)
            self.gaps_over_50ms += gap > 0.050
        self._last = now

    def start(self) -> None:
        self._last = None
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=str(REPO / "resources/model_configs/FetalCLIP_config.json"))
    parser.add_argument("--weights", help="weights file (default: random weights of --config, made once)")
    parser.add_argument(
        "--fill-frames", type=int, default=8, help="fill frames measured before extrapolating"
    )
    parser.add_argument("--full", action="store_true", help="run the complete analysis (slow on a CPU)")
    parser.add_argument(
        "--cine", default=None, help="DICOM cine (default: pydicom-data color3d_jpeg_baseline.dcm)"
    )
    args = parser.parse_args()

    from pydicom.data import get_testdata_file

    sample = REPO / "resources" / "sample" / "US_cine_436_HC.dcm"
    cine = args.cine or (str(sample) if sample.exists() else get_testdata_file("color3d_jpeg_baseline.dcm"))
    config = Path(args.config)
    weights = (
        Path(args.weights)
        if args.weights
        else make_random_weights(
            config, Path(tempfile.gettempdir()) / "fetalviewer-bench" / f"{config.stem}_random.pt"
        )
    )
    home = Path(tempfile.mkdtemp(prefix="fv-bench-home-"))
    os.environ["FETALVIEWER_HOME"] = str(home)
    from fetalviewer.settings import update_settings

    update_settings(weights_path=str(weights), weights_config_path=str(config), auto_analyze=False)

    from fetalviewer.ui.app import ensure_application

    app = ensure_application()
    from fetalviewer.ui.main_window import MainWindow
    from fetalviewer.workspace.schedule import first_pass_indices, first_pass_stride

    def new_window():
        win = MainWindow()
        ws = win.workspace
        win.resize(1500, 920)
        win.show()
        refresh_times: list[float] = []
        view_refresh = ws.view.refresh

        def timed_refresh(current_only=False):
            t = time.perf_counter()
            view_refresh(current_only)
            refresh_times.append(time.perf_counter() - t)

        ws._views = [timed_refresh]
        return win, ws, refresh_times

    result: dict = {
        "machine": f"{platform.machine()} {os.cpu_count()} logical CPUs, {platform.processor() or 'cpu'}; no GPU",
        "config": config.name,
        "cine": Path(cine).name,
    }
    win, ws, refresh_times = new_window()
    loaded = {"n": None}
    win.study_loaded.connect(lambda n: loaded.__setitem__("n", n))
    win.open_paths([cine])
    wait_for(app, lambda: loaded["n"] is not None, 60)
    loop = win.instances[0]
    n_frames = loop.n_frames
    from fetalviewer.ui.workspace.controller import FIRST_PASS_FRAMES_CPU

    stride = first_pass_stride(n_frames, FIRST_PASS_FRAMES_CPU)  # the bench runs on the CPU
    first = set(first_pass_indices(n_frames, stride))
    result["n_frames"] = n_frames
    result["first_pass_frames"] = len(first)

    # baseline: the same playback with no analysis running
    beat = Heartbeat()
    shown0, dropped0 = win.player.frames_shown, win.player.frames_dropped
    win.player.play()
    beat.start()
    wait_for(app, lambda: False, 5.0)
    beat.stop()
    win.player.pause()
    result["baseline_no_analysis"] = {
        "gui_max_stall_ms": round(beat.max_gap_s * 1000, 1),
        "gui_stalls_over_50ms": beat.gaps_over_50ms,
        "playback_frames_shown": win.player.frames_shown - shown0,
        "playback_frames_dropped": win.player.frames_dropped - dropped0,
        "seconds": 5.0,
    }

    marks: dict[str, float] = {}
    done_counts: list[tuple[float, int]] = []
    ws.model_state_changed.connect(lambda s: marks.setdefault(f"model_{s}", time.perf_counter()))

    def on_update(update):
        now = time.perf_counter()
        a = update.analysis
        done_counts.append((now, a.n_done))
        if "first_value" not in marks:
            marks["first_value"] = now
        if "timeline_complete_first_pass" not in marks and all(a.done[i] for i in first):
            marks["timeline_complete_first_pass"] = now

    ws.worker.analysis_update.connect(on_update)
    finished = {"v": False}
    ws.analysis_finished.connect(lambda _r: finished.__setitem__("v", True))

    beat = Heartbeat()
    shown0, dropped0 = win.player.frames_shown, win.player.frames_dropped
    win.player.play()
    beat.start()
    t0 = time.perf_counter()
    ws.analyse()
    target_done = n_frames if args.full else len(first) + args.fill_frames
    wait_for(app, lambda: finished["v"] or (done_counts and done_counts[-1][1] >= target_done), 24 * 3600)
    t_stop = time.perf_counter()
    if not finished["v"]:
        ws.cancel()
        wait_for(app, lambda: finished["v"], 600)
    beat.stop()
    win.player.pause()
    shown, dropped = win.player.frames_shown - shown0, win.player.frames_dropped - dropped0
    result["analysis_wall_s"] = round(time.perf_counter() - t0, 1)

    t_loaded = marks.get("model_ready", t0) - t0
    t_first = marks["timeline_complete_first_pass"] - t0
    result["model_load_s"] = round(t_loaded, 2)
    result["first_value_s"] = round(marks["first_value"] - t0, 2)
    result["whole_timeline_first_values_s"] = round(t_first, 2)
    result["first_pass_s_per_frame"] = round((t_first - t_loaded) / len(first), 3)
    n_done_final = done_counts[-1][1]
    if finished["v"] and n_done_final == n_frames:
        result["complete_analysis_s"] = round(t_stop - t0, 2)
        result["complete_analysis_measured"] = True
    else:
        fill = [(t, n) for t, n in done_counts if n > len(first)]
        t_fill_start = marks["timeline_complete_first_pass"]
        rate = (
            (fill[-1][0] - t_fill_start) / (fill[-1][1] - len(first))
            if fill
            else result["first_pass_s_per_frame"]
        )
        result["fill_s_per_frame_measured"] = round(rate, 3)
        result["fill_frames_measured"] = (fill[-1][1] - len(first)) if fill else 0
        result["complete_analysis_s"] = round(t_first + rate * (n_frames - len(first)), 1)
        result["complete_analysis_measured"] = False
    result["gui_max_stall_ms"] = round(beat.max_gap_s * 1000, 1)
    result["gui_stalls_over_50ms"] = beat.gaps_over_50ms
    result["max_workspace_refresh_ms"] = round(max(refresh_times) * 1000, 1) if refresh_times else None
    result["playback_frames_shown"] = shown
    result["playback_frames_dropped"] = dropped
    result["peak_rss_mb_after_analysis"] = round(peak_rss_mb(), 1)
    win.close()
    ws.shutdown()

    # reopen from the cache: nothing loaded, nothing inferred
    win2, ws2, _ = new_window()
    got = {"n": None, "loaded": None}
    ws2.cache_checked.connect(lambda n: got.__setitem__("n", n))
    win2.study_loaded.connect(lambda _n: got.__setitem__("loaded", time.perf_counter()))
    t1 = time.perf_counter()
    win2.open_paths([cine])
    wait_for(app, lambda: got["n"] is not None, 120)
    t2 = time.perf_counter()
    result["reopen_from_cache_s"] = round(t2 - t1, 3)
    result["reopen_after_study_on_screen_s"] = round(t2 - got["loaded"], 3)
    result["reopen_frames_shown"] = sum(a.n_done for a in ws2.results.values())
    result["reopen_model_loaded"] = ws2.worker.service.engine is not None
    win2.close()
    ws2.shutdown()
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
