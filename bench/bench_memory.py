"""Peak memory (RSS) of every command on a long synthetic cine, each run in its own process.

    python bench/bench_memory.py                         # 2,000-frame 480x640 JPEG cine, every command
    python bench/bench_memory.py --frames 500 --commands info,deidentify
    python bench/bench_memory.py --native                # also an uncompressed 8-bit gray cine

The cine repeats the 120 JPEG frames of pydicom's ``color3d_jpeg_baseline.dcm`` (one ultrasound
region, so de-identification can clean it). Each command runs as ``fetalviewer.cli.main`` in a fresh
interpreter that reports its peak RSS (VmHWM) at exit (torch alone, imported by analyze and report, is about
0.5 GB of it); an interpreter that imports the command line without running a command gives the baseline. The ceiling asked of every command is 1 GB whatever the
number of frames: nothing may hold the whole cine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_RUN = r"""
import json, sys, time
argv = json.loads(sys.argv[1])
from fetalviewer.cli import main
t0 = time.perf_counter()
code = main(argv) if argv else 0
# VmHWM: this process's own peak RSS (ru_maxrss would include the parent's RSS at fork time).
hwm_kb = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print("RESULT", json.dumps({"code": code, "seconds": time.perf_counter() - t0,
      "maxrss_mb": hwm_kb / 1024}), flush=True)
"""


def run(argv: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _RUN, json.dumps(argv)], capture_output=True, text=True, env=env, cwd=ROOT
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{argv[:1]} did not finish (rc {proc.returncode}): {proc.stderr[-2000:]}")


def commands(path: Path, out: Path, weights: Path, config: Path, n_frames: int) -> dict[str, list[str]]:
    return {
        "info": ["info", str(path)],
        "frame": ["frame", str(path), "--index", str(n_frames - 1), "--out", str(out / "last.png")],
        "deidentify": ["deidentify", str(path), "--out", str(out / "deid")],
        "report": ["report", str(path), "--out", str(out / "report"), "--formats", "pdf,sr,sc,mp4,png,json,csv"],
        "report-deid": ["report", str(path), "--out", str(out / "report-deid"), "--deidentify"],
        "analyze": ["analyze", str(path), "--weights", str(weights), "--config", str(config), "--device", "cpu",
                    "--json", str(out / "analysis.json")],
        "report-ai": ["report", str(path), "--out", str(out / "report-ai"), "--weights", str(weights),
                      "--config", str(config), "--device", "cpu", "--formats", "pdf,sr,sc,mp4,png,json,csv"],
        "batch": ["batch", str(path), "--out", str(out / "batch"), "--weights", str(weights), "--config",
                  str(config), "--device", "cpu"],
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--commands", default="info,frame,deidentify,report,report-deid,analyze,report-ai,batch")
    parser.add_argument("--native", action="store_true", help="also an uncompressed gray cine")
    args = parser.parse_args()
    from tests.helpers import write_jpeg_cine, write_native_cine
    from tests.model_fixtures import TINY_CONFIG, save_official, tiny_state_dict

    work = Path(tempfile.mkdtemp(prefix="fetalviewer-membench-"))
    env = {**os.environ, "FETALVIEWER_HOME": str(work / "home"), "QT_QPA_PLATFORM": "offscreen",
           "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}  # fmt: skip
    weights = save_official(tiny_state_dict(seed=0), work / "tiny.pt")
    files = {"jpeg": write_jpeg_cine(work / "cine_jpeg.dcm", args.frames)}
    if args.native:
        files["native"] = write_native_cine(work / "cine_native.dcm", args.frames)
    baseline = run([], env)
    print(f"baseline (interpreter + fetalviewer.cli, no command): {baseline['maxrss_mb']:.0f} MB")
    wanted = [c.strip() for c in args.commands.split(",") if c.strip()]
    for kind, path in files.items():
        size_mb = path.stat().st_size / 2**20
        print(f"{kind} cine: {args.frames} frames of 480x640, file {size_mb:.0f} MB")
        for name in wanted:
            out = work / f"out-{kind}-{name}"
            out.mkdir()
            argv = commands(path, out, weights, TINY_CONFIG, args.frames)[name]
            start = time.perf_counter()
            # a home of its own: no command finds the analysis another one cached
            result = run(argv, {**env, "FETALVIEWER_HOME": str(out / "home")})
            print(
                f"  {name:12s} exit {result['code']}  peak RSS {result['maxrss_mb']:7.0f} MB  "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
