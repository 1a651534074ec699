"""Train the project's default head segmentation model on HC18 (never on the held-out split).

Reproduce the shipped model (about 30-40 minutes on one busy CPU core)::

    python tools/train_default_head.py --data PATH/TO/hc18 --work build/default_head \
        --out weights/default_head --epochs 50 --seed 1234 --threads 1 --input-size 128

Resumable: a checkpoint is written to ``--work`` after every epoch; run the same command with
``--resume`` to continue. The final weights go to ``--out`` as ``hc18_unet.safetensors`` plus
``hc18_unet.json`` (architecture, preprocessing, recipe, split, sha256). Evaluate on the held-out
split with ``tools/eval_default_head.py``.

Recipe: compact U-Net (:mod:`fetalviewer.model.heads.unet`, base 8 channels, depth 4), input 128x128
after symmetric zero-pad-to-square; augmentations: flips, rotation +-25 deg, scale 0.85-1.2, shift
+-10 %, gamma/contrast/brightness, Gaussian noise and blur; loss BCE + soft Dice; Adam lr 2e-3,
weight decay 1e-4, cosine decay to 1e-5, batch 8; the final epoch's weights are shipped (no model
selection on the held-out images).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fetalviewer.atomic import atomic_path, write_text_atomic  # noqa: E402
from fetalviewer.model.heads.hc18_data import HELDOUT_PERCENT, SPLIT_SALT, read_hc18  # noqa: E402
from fetalviewer.model.heads.letterbox import square_mapping, to_model_input  # noqa: E402
from fetalviewer.model.heads.unet import UNetSpec, build_unet  # noqa: E402

MODEL_NAME = "fetalviewer-hc18-unet"
MODEL_VERSION = "1.0"
INPUT_SIZE = 128
NORM_MEAN = 0.5  # input = (pixel / 255 - mean) / std
NORM_STD = 0.25


def prepare(items, size: int):
    images, masks = [], []
    for item in items:
        image = item.load_image()
        mapping = square_mapping(image.shape, size)
        images.append(to_model_input(image, mapping, "area").astype(np.float32) / 255.0)
        masks.append(to_model_input(item.load_mask().astype(np.float32), mapping, "area"))
    return np.stack(images), np.stack(masks)


def augment(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator):
    import cv2

    size = image.shape[0]
    angle = rng.uniform(-25, 25)
    scale = rng.uniform(0.85, 1.2)
    matrix = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), angle, scale)
    matrix[:, 2] += rng.uniform(-0.1, 0.1, size=2) * size
    image = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
    mask = cv2.warpAffine(mask, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
    if rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    if rng.random() < 0.5:
        image, mask = image[::-1], mask[::-1]
    image = np.clip(image, 0, 1) ** np.exp(rng.uniform(-0.4, 0.4))
    image = image * rng.uniform(0.75, 1.3) + rng.uniform(-0.1, 0.1)
    if rng.random() < 0.2:
        image = cv2.GaussianBlur(np.ascontiguousarray(image), (0, 0), rng.uniform(0.5, 1.2))
    image = image + rng.normal(0, rng.uniform(0, 0.04), size=image.shape)
    return (
        np.ascontiguousarray(np.clip(image, 0, 1), dtype=np.float32),
        np.ascontiguousarray(mask, dtype=np.float32),
    )


def loss_fn(logits, target):
    import torch

    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum(dim=(1, 2, 3))
    dice = (2 * inter + 1) / (prob.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3)) + 1)
    return bce + (1 - dice).mean()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="HC18 folder (images/ + pixel_size_and_hc.csv)")
    parser.add_argument("--work", default="build/default_head", help="checkpoint folder")
    parser.add_argument("--out", default="weights/default_head", help="output folder for the model files")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--base-channels", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument(
        "--input-size", type=int, default=INPUT_SIZE, help="model input side (multiple of 16)"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --work")
    parser.add_argument(
        "--export-only",
        action="store_true",
        help="write the model files from the checkpoint in --work without training (e.g. to evaluate it)",
    )
    args = parser.parse_args(argv)

    import torch
    from safetensors.torch import save_file

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)

    items = read_hc18(args.data)
    train_items = [item for item in items if not item.held_out]
    print(
        f"HC18: {len(items)} images, training on {len(train_items)}, "
        f"holding out {len(items) - len(train_items)}",
        flush=True,
    )
    images, masks = (None, None) if args.export_only else prepare(train_items, args.input_size)

    spec = UNetSpec(base_channels=args.base_channels, depth=4)
    model = build_unet(spec)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs, eta_min=1e-5)
    rng = np.random.default_rng(args.seed)
    start_epoch, history = 0, []
    checkpoint_path = work / "checkpoint.pt"
    if args.export_only and not checkpoint_path.is_file():
        parser.error(f"--export-only: no checkpoint at {checkpoint_path}")
    if (args.resume or args.export_only) and checkpoint_path.is_file():
        state = torch.load(checkpoint_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        start_epoch, history = state["epoch"], state["history"]
        print(f"resumed after epoch {start_epoch}", flush=True)

    n = 0 if images is None else len(images)
    for epoch in range(start_epoch, start_epoch if args.export_only else args.epochs):
        model.train()
        t0 = time.time()
        order = rng.permutation(n)
        losses = []
        for start in range(0, n - args.batch + 1, args.batch):  # drop the last partial batch (BatchNorm)
            batch = [augment(images[i], masks[i], rng) for i in order[start : start + args.batch]]
            x = torch.from_numpy(np.stack([b[0] for b in batch])[:, None])
            x = (x - NORM_MEAN) / NORM_STD
            y = torch.from_numpy(np.stack([b[1] for b in batch])[:, None])
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        scheduler.step()
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": time.time() - t0})
        print(
            f"epoch {epoch + 1}/{args.epochs} loss {np.mean(losses):.4f} "
            f"lr {scheduler.get_last_lr()[0]:.2e} {time.time() - t0:.0f}s",
            flush=True,
        )
        with atomic_path(checkpoint_path) as tmp:
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "numpy_rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(),
                    "epoch": epoch + 1,
                    "history": history,
                },
                tmp,
            )

    out.mkdir(parents=True, exist_ok=True)
    weights_path = out / "hc18_unet.safetensors"
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(weights_path, suffix=".safetensors") as tmp:
        save_file(state, str(tmp), metadata={"name": MODEL_NAME, "version": MODEL_VERSION})
    meta = {
        "name": MODEL_NAME,
        "version": MODEL_VERSION,
        "weights_file": weights_path.name,
        "weights_sha256": sha256_file(weights_path),
        "architecture": {"type": "SmallUNet", **spec.to_dict()},
        "preprocessing": {
            "input_size": args.input_size,
            "letterbox": "symmetric zero-pad to square, then cv2.INTER_AREA resize",
            "grayscale": "RGB frames are converted with ITU-R BT.601 luma",
            "normalisation": {"mean": NORM_MEAN, "std": NORM_STD, "formula": "(pixel / 255 - mean) / std"},
        },
        "output": {"channel_0": "logit of the skull region (outline and inside)", "threshold_prob": 0.5},
        "training": {
            "data": "HC18 training set subset (van den Heuvel et al., PLoS ONE 2018; doi:10.5281/zenodo.1327317; CC BY 4.0)",
            "n_train_images": len(train_items),
            "split": {
                "salt": SPLIT_SALT,
                "heldout_percent": HELDOUT_PERCENT,
                "rule": "held out when int(sha256(salt + leading number of file name)[:8], 16) % 100 < 20",
            },
            "epochs": args.epochs,
            "batch": args.batch,
            "optimizer": "Adam",
            "lr": args.lr,
            "weight_decay": 1e-4,
            "schedule": "cosine to 1e-5",
            "loss": "BCE + soft Dice",
            "seed": args.seed,
            "epochs_completed": len(history),
            "final_loss": history[-1]["loss"] if history else None,
            "command": "python tools/train_default_head.py --data PATH/TO/hc18 "
            f"--work build/default_head --out weights/default_head --epochs {args.epochs} "
            f"--seed {args.seed} --threads {args.threads} --input-size {args.input_size}",
        },
    }
    meta_path = out / "hc18_unet.json"
    if meta_path.is_file():  # keep an earlier evaluation only if it was of these very weights
        old = json.loads(meta_path.read_text(encoding="utf-8"))
        if old.get("weights_sha256") == meta["weights_sha256"] and "heldout_evaluation" in old:
            meta["heldout_evaluation"] = old["heldout_evaluation"]
    write_text_atomic(meta_path, json.dumps(meta, indent=2) + "\n")
    print(f"wrote {weights_path} ({weights_path.stat().st_size / 1e6:.2f} MB) and {meta_path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
