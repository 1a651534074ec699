"""Image-tower throughput of both models on one GPU (frames/s), run by hand on a machine with CUDA.

    python bench/gpu_towers.py [--out DIR] [--batches 1,32,256] [--budget-s 330] [--device cuda]

Models, built here with random weights (no weights file needed, nothing downloaded):

* FetalCLIP: open_clip ``CLIP`` from ``resources/model_configs/FetalCLIP_config.json`` (ViT-L/14, 224 px);
* MobileFetalCLIP: open_clip ``CustomTextCLIP`` with timm's ``fastvit_mci0`` image tower at 256 px, the
  configuration of Saeed et al., arXiv 2603.05421 (written to a temporary config file here).

For each model, precision and batch size, ``model.encode_image`` runs on random pixels inside
``torch.inference_mode`` and is timed with CUDA events over enough iterations to last about a second,
after warm-up. Precisions: ``fp32`` (TF32 off: the exact path), ``fp32-tf32`` (TF32 matmuls, as
``torch.backends.cuda.matmul.allow_tf32``), ``bf16-autocast`` (what the app's ``--precision bf16`` does) and
``bf16`` (weights and inputs cast to bfloat16). It also times the project's CPU preprocessing (Pillow pad +
bicubic resize, ``fetalviewer.model.preprocess``) on one core, since a batch job has to feed the GPU.

Results are printed as they come (one JSON line each) and written to ``DIR/gpu_towers.json`` after every
measurement, so a run stopped at its time limit still leaves what it measured. ``--budget-s`` skips what
would not fit. On a machine without CUDA, ``--device cpu --batches 1,2 --precisions fp32`` checks the script.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: MobileFetalCLIP's open_clip configuration (Saeed et al., arXiv 2603.05421; open_clip's MobileCLIP2-S0
#: layout with a 117-token bidirectional text tower).
MOBILE_CONFIG = {
    "embed_dim": 512,
    "vision_cfg": {
        "timm_model_name": "fastvit_mci0",
        "timm_model_pretrained": False,
        "timm_pool": "avg",
        "timm_proj": None,
        "timm_drop": 0.0,
        "timm_drop_path": 0.0,
        "image_size": 256,
    },
    "text_cfg": {
        "context_length": 117,
        "vocab_size": 49408,
        "width": 512,
        "heads": 8,
        "layers": 12,
        "no_causal_mask": True,
    },
    "custom_text": True,
}
PRECISIONS = ("fp32", "fp32-tf32", "bf16-autocast", "bf16")
#: Extra variants tried last, while the time budget lasts: bf16 weights with channels-last memory layout
#: (helps the convolutions of FastViT), and the same compiled with ``torch.compile`` (inductor); at the
#: largest batch only.
EXTRAS = ("bf16-channels-last", "bf16-compiled")


def build(name: str, device: str):
    import open_clip
    import torch

    folder = Path(tempfile.mkdtemp(prefix="gpu-towers-"))
    if name == "FetalCLIP":
        cfg_path = folder / "FetalCLIP_bench.json"
        cfg_path.write_text((REPO / "resources/model_configs/FetalCLIP_config.json").read_text())
    else:
        cfg_path = folder / "MobileFetalCLIP_bench.json"
        cfg_path.write_text(json.dumps(MOBILE_CONFIG))
    open_clip.add_model_config(cfg_path)
    torch.manual_seed(0)
    model = open_clip.create_model(cfg_path.stem, pretrained=None, device=device).eval()
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else int(size)
    n_params = sum(p.numel() for p in model.visual.parameters())
    return model, size, n_params


def time_tower(model, size: int, batch: int, precision: str, device: str, target_s: float = 1.0) -> dict:
    import contextlib

    import torch

    cuda = device.startswith("cuda")
    torch.backends.cuda.matmul.allow_tf32 = precision == "fp32-tf32"
    torch.backends.cudnn.allow_tf32 = precision == "fp32-tf32"
    dtype = torch.bfloat16 if precision.startswith("bf16") and precision != "bf16-autocast" else torch.float32
    layout = torch.channels_last if precision in EXTRAS else torch.contiguous_format
    model.to(dtype=dtype, memory_format=layout)
    x = torch.randn(batch, 3, size, size, device=device, dtype=dtype).contiguous(memory_format=layout)
    encode = model.encode_image
    if precision == "bf16-compiled":
        encode = torch.compile(model.encode_image)
    ctx = (
        torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)
        if precision == "bf16-autocast"
        else contextlib.nullcontext()
    )

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def once():
        with torch.inference_mode(), ctx:
            return encode(x)

    tw = time.perf_counter()
    for _ in range(3 if cuda else 1):
        out = once()
    sync()
    warmup_s = time.perf_counter() - tw
    t = time.perf_counter()
    once()
    sync()
    one = max(time.perf_counter() - t, 1e-4)
    iters = max(2, min(200, int(target_s / one)))
    if cuda:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            once()
        end.record()
        sync()
        seconds = start.elapsed_time(end) / 1000
    else:
        t = time.perf_counter()
        for _ in range(iters):
            once()
        seconds = time.perf_counter() - t
    mem = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    model.to(dtype=torch.float32, memory_format=torch.contiguous_format)
    return {
        "batch": batch,
        "precision": precision,
        "iters": iters,
        "ms_per_batch": round(seconds / iters * 1000, 3),
        "frames_per_s": round(batch * iters / seconds, 1),
        "peak_gpu_mem_gib": None if mem is None else round(mem, 2),
        "out_finite": bool(torch.isfinite(out.float()).all()),
        "warmup_s": round(warmup_s, 1),
    }


def preprocess_rate(seconds: float = 3.0) -> dict:
    """Frames/s of the project's exact CPU preprocessing on ONE core (a 640x480 RGB frame)."""
    import numpy as np

    from fetalviewer.model.preprocess import preprocess_batch

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        preprocess_batch([frame] * 8)
        n += 8
    return {
        "frame": "640x480 RGB",
        "size_px": 224,
        "frames_per_s_one_core": round(n / (time.perf_counter() - t), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=os.environ.get("OUT", "."), help="folder for gpu_towers.json")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batches", default="1,32,256")
    parser.add_argument("--precisions", default=",".join(PRECISIONS + EXTRAS))
    parser.add_argument("--models", default="FetalCLIP,MobileFetalCLIP")
    parser.add_argument(
        "--budget-s", type=float, default=330.0, help="stop starting new measurements after this"
    )
    parser.add_argument("--target-s", type=float, default=1.0, help="timed seconds per measurement")
    args = parser.parse_args()
    t0 = time.perf_counter()

    import open_clip
    import timm
    import torch

    torch.set_float32_matmul_precision("highest")
    out_path = Path(args.out) / "gpu_towers.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cuda = args.device.startswith("cuda")
    result: dict = {
        "machine": {
            "gpu": torch.cuda.get_device_name(0) if cuda else None,
            "gpu_count": torch.cuda.device_count() if cuda else 0,
            "cpu": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if cuda else None,
            "open_clip": open_clip.__version__,
            "timm": timm.__version__,
        },
        "models": {},
        "runs": [],
    }

    def save():
        tmp = out_path.with_suffix(".part")
        tmp.write_text(json.dumps(result, indent=1))
        tmp.replace(out_path)

    print(json.dumps(result["machine"]), flush=True)
    try:
        result["preprocess_cpu"] = preprocess_rate(2.0)
        print(json.dumps({"preprocess_cpu": result["preprocess_cpu"]}), flush=True)
    except Exception as exc:  # the tower numbers matter more; say why and go on
        result["preprocess_cpu"] = {"error": repr(exc)}
    save()
    batches = [int(b) for b in args.batches.split(",")]
    precisions = args.precisions.split(",")
    unknown = [p for p in precisions if p not in PRECISIONS + EXTRAS]
    if unknown:
        parser.error(f"unknown precision(s) {unknown}; choose from {PRECISIONS + EXTRAS}")
    for name in args.models.split(","):
        if time.perf_counter() - t0 > args.budget_s:
            break
        tb = time.perf_counter()
        model, size, n_params = build(name, args.device)
        result["models"][name] = {
            "input_px": size,
            "image_tower_params": n_params,
            "build_s": round(time.perf_counter() - tb, 1),
        }
        print(json.dumps({name: result["models"][name]}), flush=True)
        for precision in precisions:
            for batch in batches if precision not in EXTRAS else batches[-1:]:
                if time.perf_counter() - t0 > args.budget_s:
                    result["runs"].append(
                        {"model": name, "precision": precision, "batch": batch, "skipped": "time budget"}
                    )
                    continue
                try:
                    row = {
                        "model": name,
                        **time_tower(model, size, batch, precision, args.device, args.target_s),
                    }
                except torch.cuda.OutOfMemoryError:
                    row = {
                        "model": name,
                        "precision": precision,
                        "batch": batch,
                        "error": "CUDA out of memory",
                    }
                    torch.cuda.empty_cache()
                except Exception as exc:  # e.g. the compiler missing: record it, measure the rest
                    row = {"model": name, "precision": precision, "batch": batch, "error": repr(exc)[:300]}
                    model.to(dtype=torch.float32, memory_format=torch.contiguous_format)
                result["runs"].append(row)
                print(json.dumps(row), flush=True)
                save()
        del model
        if cuda:
            torch.cuda.empty_cache()
    result["total_s"] = round(time.perf_counter() - t0, 1)
    save()
    print(f"wrote {out_path} in {result['total_s']} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
