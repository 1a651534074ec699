"""Throughput of ``fetalviewer batch``: the local engine against Ray (same files, same model), run by hand.

    python bench/bench_batch.py [--model tiny|fetalclip] [--files 8] [--frames 24] [--engines local,ray1,ray2]
                                [--device cpu] [--batch-size B] [--out DIR]

Makes an archive of synthetic uncompressed US cines (``--files`` files of ``--frames`` 480x640 frames,
one calibrated tissue region each) and a random-weight checkpoint (``tiny``: the test config; ``fetalclip``:
the full ViT-L/14 config, 428 M parameters), then runs ``fetalviewer batch`` once per engine into a fresh
folder, each in its own process (``ray1``/``ray2``: a local Ray runtime with 1 or 2 workers). Reported per
engine: wall time of the whole command, model load / worker start-up, frames analysed and frames/s of the
analysis phase (from the folder's ``runs.json``). A warm-up run on one small file first fills the shared text-embedding cache (prompt encoding is a
one-off per weights file, not part of any engine's throughput). Prints one JSON line per engine and writes
``DIR/bench_batch.json``. Nothing is downloaded; nothing is written into the repository.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def make_archive(folder: Path, n_files: int, n_frames: int) -> int:
    import numpy as np

    from tests.model_fixtures import write_us_dicom

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n_files):
        frames = rng.integers(0, 255, size=(n_frames, 480, 640), dtype=np.uint8)
        write_us_dicom(folder / f"cine{k:04d}.dcm", frames, region_box=(80, 60, 559, 419), delta_cm=(0.02, 0.02))
    return n_files * n_frames


def make_weights(kind: str, folder: Path) -> tuple[Path, Path]:
    import torch

    from fetalviewer.model.loader import build_model, register_config
    from fetalviewer.paths import resources_dir

    config = resources_dir() / "model_configs" / (
        "FetalCLIP_tiny_test.json" if kind == "tiny" else "FetalCLIP_config.json"
    )
    name, _ = register_config(config)
    torch.manual_seed(0)
    model = build_model(name)
    path = folder / f"{kind}.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)
    return path, config


def run_engine(engine: str, archive: Path, out: Path, weights: Path, config: Path, args) -> dict:
    cmd = [sys.executable, "-m", "fetalviewer", "batch", str(archive), "--out", str(out), "--weights", str(weights),
           "--config", str(config), "--device", args.device, "--step", "1"]  # fmt: skip
    if args.batch_size:
        cmd += ["--batch-size", str(args.batch_size)]
    if args.precision:
        cmd += ["--precision", args.precision]
    if engine.startswith("ray"):
        cmd += ["--engine", "ray", "--workers", engine[3:] or "1"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"engine": engine, "error": (proc.stderr or proc.stdout)[-2000:]}
    run = json.loads((out / "runs.json").read_text())[-1]
    return {
        "engine": engine,
        "wall_s": round(wall, 2),
        "model_load_s": run["model_load_s"],
        "analysis_s": run["seconds"],
        "frames": run["frames"],
        "frames_per_s": run["frames_per_s"],
        "workers": run["workers"],
        "device": run["device"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("tiny", "fetalclip"), default="tiny")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--engines", default="local,ray1,ray2")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--precision")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    out_dir = Path(args.out) if args.out else work
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("FETALVIEWER_HOME", str(work / "home"))
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    t = time.perf_counter()
    n = make_archive(work / "archive", args.files, args.frames)
    weights, config = make_weights(args.model, work)
    # Warm-up (not reported): fills the on-disk text-embedding cache (plane, sub-plane and GA prompts) that
    # every later run and worker shares, so no engine is charged for encoding prompts.
    warm = work / "warm"
    make_archive(warm, 1, 2)
    warm_row = run_engine("local", warm, work / "out-warm", weights, config, args)
    results = {
        "machine": {"cpus": os.cpu_count(), "load_avg_1min": os.getloadavg()[0], "python": sys.version.split()[0]},
        "model": args.model,
        "files": args.files,
        "frames": n,
        "setup_s": round(time.perf_counter() - t, 1),
        "warm_up": warm_row,
        "runs": [],
    }
    for engine in [e for e in args.engines.split(",") if e]:
        row = run_engine(engine, work / "archive", work / f"out-{engine}", weights, config, args)
        row["load_avg_1min_after"] = round(os.getloadavg()[0], 2)
        print(json.dumps(row), flush=True)
        results["runs"].append(row)
        (out_dir / "bench_batch.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
