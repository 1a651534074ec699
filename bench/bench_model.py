"""Benchmark: the engine's batched image path vs a naive per-image path, full-size FetalCLIP, random weights.

    python bench/bench_model.py [--device cpu|cuda] [--images 4] [--batch 4] [--threads N] [--text]

Batched path: ``preprocess_batch`` (Pillow pad + bicubic per image, one normalisation for the batch) and
``LoadedModel.encode_image`` at batch B (fp16 autocast on CUDA, fp32 on the CPU) inside inference_mode.
Naive path: per image PIL pad + open_clip eval transform, batch 1, fp32, ``model.encode_image``.
Both paths run in the same process on the same model and images; the batched one must not be slower.
``--text`` also times the GA prompt text encoding with and without the context trimming.
No weights file is needed or written: the architecture is built with random weights.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np


def _loaded(device: str, precision: str):
    from fetalviewer.model.devices import resolve_device
    from fetalviewer.model.loader import LoadedModel, build_model, register_config
    from fetalviewer.model.results import ModelInfo

    name, cfg = register_config()
    model = build_model(name, device="cpu")
    dev, autocast = resolve_device(device, precision)
    model.to(dev)
    import open_clip

    info = ModelInfo("random-weights", 0, "0" * 64, name, dev, "float32")
    loaded = LoadedModel(model, open_clip.get_tokenizer(name), name, cfg, info, dev, autocast)
    return loaded


def _images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (600 + 7 * i, 800 - 5 * i), dtype=np.uint8) for i in range(n)]


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def naive(loaded, images) -> float:
    import open_clip
    import torch
    from PIL import Image

    transform = open_clip.image_transform(224, is_train=False)
    start = time.perf_counter()
    for arr in images:
        img = Image.fromarray(arr)
        w, h = img.size
        side = max(w, h)
        canvas = Image.new(img.mode, (side, side), 0)
        canvas.paste(img, ((side - w) // 2, (side - h) // 2))
        with torch.no_grad():
            emb = loaded.model.encode_image(transform(canvas)[None].to(loaded.device))
        emb.cpu()
    _sync(loaded.device)
    return time.perf_counter() - start


def batched(loaded, images, batch: int) -> float:
    from fetalviewer.model.preprocess import preprocess_batch

    start = time.perf_counter()
    for i in range(0, len(images), batch):
        loaded.encode_image(preprocess_batch(images[i : i + batch])).cpu()
    _sync(loaded.device)
    return time.perf_counter() - start


def text_bench(loaded, n_prompts: int) -> dict:
    import torch

    from fetalviewer.model.planes import ga_prompt_grid
    from fetalviewer.model.text_encode import encode_tokens

    texts = [t for row in ga_prompt_grid("0.43") for t in row][:n_prompts]
    tokens = loaded.tokenize(texts).to(loaded.device)
    out = {}
    for trim in (False, True):
        start = time.perf_counter()
        with torch.inference_mode(), loaded._autocast():
            encode_tokens(loaded.model, tokens, trim=trim)
        _sync(loaded.device)
        out["trimmed_s" if trim else "full_context_s"] = round(time.perf_counter() - start, 3)
    out["prompts"] = n_prompts
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="torch threads on the CPU (0: leave as is)")
    parser.add_argument(
        "--repeat",
        action="store_true",
        help="time each path twice (naive, batched, naive, batched), keep the best",
    )
    parser.add_argument("--text", type=int, default=0, metavar="N", help="also time N GA prompts (0: skip)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    loaded = _loaded(args.device, args.precision)
    build_s = time.perf_counter() - t0
    images = _images(args.images)
    naive(loaded, images[:1])  # warm-up both paths (allocator, kernels)
    batched(loaded, images[:1], 1)
    t_naive = naive(loaded, images)
    t_batched = batched(loaded, images, args.batch)
    t_naive = min(t_naive, naive(loaded, images)) if args.repeat else t_naive
    t_batched = min(t_batched, batched(loaded, images, args.batch)) if args.repeat else t_batched
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "device": loaded.device,
        "gpu": torch.cuda.get_device_name(0) if loaded.device.startswith("cuda") else None,
        "torch_threads": torch.get_num_threads(),
        "batched_dtype": loaded.dtype_name,
        "naive_dtype": "float32 (autocast off)",
        "batch_size": args.batch,
        "images": args.images,
        "model_build_s": round(build_s, 1),
        "naive_frames_per_s": round(args.images / t_naive, 3),
        "batched_frames_per_s": round(args.images / t_batched, 3),
        "ratio_batched_over_naive": round(t_naive / t_batched, 3),
    }
    if args.text:
        result["text"] = text_bench(loaded, args.text)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
