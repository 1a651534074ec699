"""``fetalviewer analyze`` throughput of MobileFetalCLIP and FetalCLIP on the CPU, both in one run (not a test).

    python bench/bench_engines.py [--cine PATH] [--fetalclip-step 4] [--mobile-step 1] [--threads N]

Default cine: pydicom-data's ``color3d_jpeg_baseline.dcm`` (120 frames, 640x480 YBR JPEG baseline, with an
ultrasound region, so frames are cropped and GA is read on head frames). For each model the FULL-SIZE
architecture is built with random weights and saved once under the temporary folder in the format the app
installs (FetalCLIP: open_clip names with the ``module.`` prefix; MobileFetalCLIP: open_clip/timm names),
then:

1. a warm-up ``analyze`` of a few frames with head read-outs on every frame fills the on-disk text-embedding
   cache (plane and brain prompts, and the 875 GA prompts of this cine's pixel-spacing string): the figures
   below are with text embeddings cached, as a user sees them from the second study on;
2. the timed ``analyze`` (in this process, through ``fetalviewer.cli.main``, JSON written to a temporary
   file): wall time of the whole command, the model load it reports, and frames per second over the rest,
   which includes reading and JPEG-decoding every frame, cropping, preprocessing, the image tower, the
   read-outs and the per-frame head biometry the command does.

Also printed: CPU seconds the process used (user + system) per frame, and the load average before and
after, because on a shared machine the wall figures depend on what else runs. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
BENCH_DIR = Path(tempfile.gettempdir()) / "fetalviewer-bench"
MODELS = {
    "mobilefetalclip": REPO / "resources/model_configs/MobileFetalCLIP_config.json",
    "fetalclip": REPO / "resources/model_configs/FetalCLIP_config.json",
}


def random_weights(model: str) -> Path:
    """Full-size random-weight checkpoint of ``model`` (written once under the temporary folder)."""
    config = MODELS[model]
    out = BENCH_DIR / f"{config.stem}_random.pt"
    if out.exists():
        return out
    import torch

    from fetalviewer.model.loader import build_model, register_config

    name, _ = register_config(config)
    torch.manual_seed(0)
    state = build_model(name).state_dict()
    prefix = "module." if model == "fetalclip" else ""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    torch.save({"state_dict": {prefix + k: v for k, v in state.items()}, "epoch": 0}, tmp)
    tmp.replace(out)
    return out


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_analyze(cine: str, model: str, weights: Path, step: int, extra: list[str]) -> dict:
    from fetalviewer.cli import main as cli_main

    out = Path(tempfile.mkdtemp(prefix="fv-bench-json-")) / "analyze.json"
    argv = ["analyze", cine, "--model", model, "--weights", str(weights), "--device", "cpu"]
    argv += ["--step", str(step), "--json", str(out), *extra]
    import contextlib
    import io

    load0, cpu0, t0 = os.getloadavg()[0], cpu_seconds(), time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the per-frame lines (the JSON file has them)
        rc = cli_main(argv)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    if rc != 0:
        raise SystemExit(f"analyze exited {rc} for {model}")
    data = json.loads(out.read_text())
    n = sum(1 for r in data["frames"] if r.get("top_plane"))
    load_s = data["timings"]["model_load_s"]
    return {
        "frames": n,
        "step": step,
        "command_wall_s": round(wall, 2),
        "model_load_s": round(load_s, 2),
        "frames_per_s_incl_decode": round(n / (wall - load_s), 2),
        "seconds_per_frame_incl_decode": round((wall - load_s) / n, 3),
        "engine_frames_per_s": data["timings"]["frames_per_s"],
        "cpu_s_per_frame": round(cpu / n, 3),
        "brain_frames": sum(1 for r in data["frames"] if r.get("top_plane") == "brain"),
        "ga_frames": sum(1 for r in data["frames"] if r.get("ga_days") is not None),
        "model": data["model"]["model_name"] if data.get("model") else None,
        "loadavg_1min_before_after": [round(load0, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cine", help="DICOM cine (default: pydicom-data color3d_jpeg_baseline.dcm)")
    parser.add_argument(
        "--mobile-step", type=int, default=1, help="analyse every Nth frame (MobileFetalCLIP)"
    )
    parser.add_argument("--fetalclip-step", type=int, default=4, help="analyse every Nth frame (FetalCLIP)")
    parser.add_argument("--models", default="mobilefetalclip,fetalclip")
    parser.add_argument(
        "--no-warm-ga",
        action="store_true",
        help="warm-up without GA on every frame (the GA prompts are then encoded only if a head frame needs them)",
    )
    args = parser.parse_args()

    from pydicom.data import get_testdata_file

    cine = args.cine or get_testdata_file("color3d_jpeg_baseline.dcm")
    os.environ.setdefault("FETALVIEWER_HOME", str(BENCH_DIR / "home"))
    import torch

    from fetalviewer.model.devices import usable_cpu_count

    result: dict = {
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} logical CPUs of which {usable_cpu_count()} usable "
            f"({platform.processor() or 'cpu'}), no GPU used; torch {torch.__version__}"
        ),
        "cine": Path(cine).name,
        "text_embeddings": "cached (warm-up run first)",
        "models": {},
    }
    steps = {"mobilefetalclip": args.mobile_step, "fetalclip": args.fetalclip_step}
    for model in args.models.split(","):
        weights = random_weights(model)
        # warm-up: fills the text-embedding cache (plane, brain and this cine's GA spacing string)
        run_analyze(cine, model, weights, 60, [] if args.no_warm_ga else ["--head-readouts-all-frames"])
        result["models"][model] = run_analyze(cine, model, weights, steps[model], [])
        result["models"][model]["torch_threads"] = torch.get_num_threads()
        print(json.dumps({model: result["models"][model]}), file=sys.stderr, flush=True)
    fps = {m: r["frames_per_s_incl_decode"] for m, r in result["models"].items()}
    if len(fps) == 2:
        result["mobile_over_fetalclip_frames_per_s"] = round(fps["mobilefetalclip"] / fps["fetalclip"], 2)
        cpu = {m: r["cpu_s_per_frame"] for m, r in result["models"].items()}
        result["mobile_over_fetalclip_cpu_time"] = round(cpu["fetalclip"] / cpu["mobilefetalclip"], 2)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
