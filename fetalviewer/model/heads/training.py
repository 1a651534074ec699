"""Train FetalCLIP-feature heads on a frozen backbone (the FetalCLIP paper's recipes).

Recipes (arXiv 2502.14807, downstream heads; docs/fetalclip.md): AdamW, lr 3e-4, weight decay 0.01; segmentation: UNETR-
style decoder, Dice loss, batch 8 (paper: 100 epochs); plane: ``Linear(embed_dim, C)``, cross-entropy,
batch 64 (paper: 50 epochs); CHD: see :mod:`fetalviewer.model.heads.probes` (mean+max pooling instead of
the paper's concatenation), cross-entropy, batch 64. The backbone is frozen, so its features are
computed once and cached in the work folder (no augmentation: the cached features are reused as is).

Resumable: the feature cache and a checkpoint (head, optimiser, RNG, epoch, loss history) are written
atomically after every epoch; ``resume=True`` continues from them when they belong to the same run
(same kind, data, backbone, architecture, recipe). The head file is written atomically at the end
with the validation score on the held-out validation split (:mod:`fetalviewer.model.heads.datasets`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from fetalviewer.atomic import atomic_path
from fetalviewer.errors import FetalViewerError
from fetalviewer.model.heads import datasets
from fetalviewer.model.heads.backbone import BackboneSpec, block_features, default_seg_blocks, embed_frames
from fetalviewer.model.heads.headfile import HeadHeader, save_head
from fetalviewer.model.heads.letterbox import square_mapping, to_model_input
from fetalviewer.model.heads.probes import CHD_CLASSES, CHD_POOLING, auroc, build_linear, macro_f1, pool_clip
from fetalviewer.model.heads.seg_decoder import SegDecoderSpec, build_seg_decoder, resize_token_maps

Progress = Callable[[str], None]
PAPER_BATCH = {"seg": 8, "plane": 64, "chd": 64}
PAPER_EPOCHS = {"seg": 100, "plane": 50, "chd": 50}


@dataclass(frozen=True)
class TrainOptions:
    epochs: int | None = None  # None: the paper's number
    batch: int | None = None  # None: the paper's batch size
    lr: float = 3e-4
    weight_decay: float = 0.01
    val_percent: int = 20
    seed: int = 0
    max_frames: int = 16  # chd: frames sampled per clip
    structure: str = "head"  # seg: name of the segmented structure
    feature_size: int = 14  # seg: decoder width (14 -> ~1.7 M parameters on ViT-L/14)

    def __post_init__(self) -> None:
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch is not None and self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError(f"lr must be > 0 and weight_decay >= 0, got {self.lr}, {self.weight_decay}")
        if self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {self.max_frames}")


@dataclass
class TrainResult:
    head_path: Path
    header: HeadHeader
    history: list[dict] = field(default_factory=list)
    module: object = None  # the trained torch module (eval mode), as saved


def _say(progress: Progress | None, text: str) -> None:
    if progress is not None:
        progress(text)


def _signature(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _save_npz(path: Path, **arrays) -> None:
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def _cached(path: Path, signature: str, compute: Callable[[], dict], progress: Progress | None) -> dict:
    if path.is_file():
        with np.load(path) as data:
            if str(data["signature"]) == signature:
                _say(progress, f"using cached features {path}")
                return {k: data[k] for k in data.files}
    arrays = compute()
    _save_npz(path, signature=np.array(signature), **arrays)
    return arrays


# -- feature extraction ---------------------------------------------------------------------------------
def _seg_features(loaded, samples, blocks, grid, progress):
    from fetalviewer.model.preprocess import preprocess_batch

    feats, images, masks = [], [], []
    for n, sample in enumerate(samples, start=1):
        image, mask = sample.load()
        pixels = preprocess_batch([image])
        maps = resize_token_maps(block_features(loaded, pixels, blocks), grid)
        feats.append(maps[0].numpy().astype(np.float16))
        mapping = square_mapping(image.shape, pixels.shape[-1])
        images.append(pixels[0].numpy().astype(np.float16))
        masks.append((to_model_input(mask.astype(np.float32), mapping, "area") >= 0.5).astype(np.uint8))
        _say(progress, f"features {n}/{len(samples)}")
    return {"features": np.stack(feats), "images": np.stack(images), "masks": np.stack(masks)}


def _plane_features(loaded, samples, progress, batch=16):
    out = []
    for start in range(0, len(samples), batch):
        chunk = samples[start : start + batch]
        out.append(embed_frames(loaded, [datasets.read_image(p) for _, p, _ in chunk]))
        _say(progress, f"features {min(start + batch, len(samples))}/{len(samples)}")
    return {"embeddings": np.concatenate(out), "labels": np.array([c for _, _, c in samples], np.int64)}


def _chd_features(loaded, samples, max_frames, progress):
    pooled = []
    for n, (_, clip, _) in enumerate(samples, start=1):
        pooled.append(pool_clip(embed_frames(loaded, datasets.clip_frames(clip, max_frames))))
        _say(progress, f"clip features {n}/{len(samples)}")
    return {"pooled": np.stack(pooled), "labels": np.array([y for _, _, y in samples], np.int64)}


# -- the training loop ----------------------------------------------------------------------------------
def _dice_loss(logits, target):
    import torch

    prob = torch.sigmoid(logits)
    inter = (prob * target).sum(dim=(1, 2, 3))
    return 1 - ((2 * inter + 1) / (prob.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3)) + 1)).mean()


def _fit(
    module,
    batches,
    loss_fn,
    epochs,
    opts: TrainOptions,
    work: Path,
    signature: str,
    resume: bool,
    progress: Progress | None,
) -> list[dict]:
    import torch

    torch.manual_seed(opts.seed)
    optimizer = torch.optim.AdamW(module.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    rng = np.random.default_rng(opts.seed)
    start, history = 0, []
    checkpoint = work / "checkpoint.pt"
    if resume and checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False)
        if state.get("signature") != signature:
            raise FetalViewerError(
                f"{checkpoint}: belongs to another training run (other data, backbone or "
                "options); use another --work folder or drop --resume"
            )
        module.load_state_dict(state["module"])
        optimizer.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        start, history = int(state["epoch"]), list(state["history"])
        _say(progress, f"resumed after epoch {start}")
    for epoch in range(start, epochs):
        module.train()
        t0, losses = time.perf_counter(), []
        for inputs, target in batches(rng):
            loss = loss_fn(module(*inputs), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        history.append(
            {"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": time.perf_counter() - t0}
        )
        _say(progress, f"epoch {epoch + 1}/{epochs} loss {history[-1]['loss']:.4f}")
        with atomic_path(checkpoint, suffix=".pt") as tmp:
            torch.save(
                {
                    "signature": signature,
                    "module": module.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "numpy_rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(),
                    "epoch": epoch + 1,
                    "history": history,
                },
                tmp,
            )
    module.eval()
    return history


def _index_batches(indices: list[int], batch: int, drop_last_single: bool):
    def make(rng):
        order = rng.permutation(indices)
        for s in range(0, len(order), batch):
            chunk = order[s : s + batch]
            if drop_last_single and len(chunk) < 2 and len(order) > 1:
                continue  # BatchNorm needs 2 samples
            yield chunk

    return make


def train_head(
    kind: str,
    data_dir: str | Path,
    loaded,
    out_path: str | Path,
    work_dir: str | Path,
    opts: TrainOptions = TrainOptions(),
    resume: bool = False,
    progress: Progress | None = None,
) -> TrainResult:
    """Train a ``seg`` | ``plane`` | ``chd`` head on ``loaded`` (frozen) and write it to ``out_path``."""
    import torch

    if kind not in PAPER_BATCH:
        raise ValueError(f"kind must be seg, plane or chd, got {kind!r}")
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    backbone = BackboneSpec.from_loaded(loaded)
    epochs = opts.epochs or PAPER_EPOCHS[kind]
    batch = opts.batch or PAPER_BATCH[kind]
    recipe = {
        "optimizer": "AdamW",
        "lr": opts.lr,
        "weight_decay": opts.weight_decay,
        "batch": batch,
        "epochs": epochs,
        "seed": opts.seed,
        "val_percent": opts.val_percent,
        "frozen_backbone": True,
        "data": str(Path(data_dir).resolve()),
    }

    if kind == "seg":
        samples = datasets.seg_samples(data_dir)
        keys = [s.key for s in samples]
        blocks = default_seg_blocks(backbone.vision_layers)
        spec = SegDecoderSpec(width=backbone.vision_width, feature_size=opts.feature_size)
        arch = {**spec.to_dict(), "blocks": list(blocks), "type": "UNETR-2D"}
        class_names, recipe["loss"] = (opts.structure,), "soft Dice"
        feats_sig = _signature("seg", keys, backbone.to_dict(), blocks, spec.grid)
        data = _cached(
            work / "features.npz",
            feats_sig,
            lambda: _seg_features(loaded, samples, blocks, spec.grid, progress),
            progress,
        )
        module = build_seg_decoder(spec)
        feats = torch.from_numpy(data["features"])
        images = torch.from_numpy(data["images"])
        masks = torch.from_numpy(data["masks"]).float()[:, None]

        def take(idx):
            idx = torch.as_tensor(np.asarray(idx))
            return (feats[idx].float(), images[idx].float()), masks[idx]

        loss_fn = _dice_loss
    else:
        if kind == "plane":
            samples, class_names = datasets.plane_samples(data_dir)
            feats_sig = _signature("plane", [s[0] for s in samples], backbone.to_dict())
            data = _cached(
                work / "features.npz", feats_sig, lambda: _plane_features(loaded, samples, progress), progress
            )
            x = torch.from_numpy(data["embeddings"]).float()
            arch = {
                "type": "Linear",
                "in_features": backbone.embed_dim,
                "input": "un-normalised image embedding",
            }
        else:
            samples, class_names = datasets.chd_samples(data_dir), CHD_CLASSES
            feats_sig = _signature("chd", [s[0] for s in samples], backbone.to_dict(), opts.max_frames)
            data = _cached(
                work / "features.npz",
                feats_sig,
                lambda: _chd_features(loaded, samples, opts.max_frames, progress),
                progress,
            )
            x = torch.from_numpy(data["pooled"]).float()
            arch = {
                "type": "Linear",
                "in_features": 2 * backbone.embed_dim,
                "pooling": CHD_POOLING,
                "max_frames": opts.max_frames,
                "threshold_0_1": 0.5,
                "input": "mean and max of the un-normalised embeddings of the clip's heart frames",
            }
            recipe["deviation_from_paper"] = "mean+max pooling of frame embeddings instead of concatenation"
        keys = [s[0] for s in samples]
        y = torch.from_numpy(data["labels"])
        module = build_linear(x.shape[1], len(class_names))
        recipe["loss"] = "cross-entropy"

        def take(idx):
            idx = torch.as_tensor(np.asarray(idx))
            return (x[idx],), y[idx]

        loss_fn = torch.nn.functional.cross_entropy

    train_idx, val_idx = datasets.split_indices(keys, opts.val_percent)
    _say(progress, f"{kind}: {len(train_idx)} training and {len(val_idx)} validation items")
    # epochs are left out: resuming with more epochs continues the same run
    signature = _signature(feats_sig, arch, {k: v for k, v in recipe.items() if k != "epochs"})
    make = _index_batches(train_idx, batch, drop_last_single=(kind == "seg"))
    history = _fit(
        module,
        lambda rng: (take(c) for c in make(rng)),
        loss_fn,
        epochs,
        opts,
        work,
        signature,
        resume,
        progress,
    )
    validation = _validate(kind, module, take, val_idx, len(class_names))
    _say(progress, "validation: " + ", ".join(f"{k} {v}" for k, v in validation.items()))
    header = HeadHeader(
        kind=kind,
        backbone=backbone,
        class_names=tuple(class_names),
        architecture=arch,
        recipe={**recipe, "final_train_loss": history[-1]["loss"] if history else None},
        validation=validation,
        created_utc=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    path = save_head(out_path, header, module.state_dict())
    return TrainResult(path, header, history, module)


def _validate(kind: str, module, take, val_idx: list[int], n_classes: int) -> dict:
    import torch

    if not val_idx:
        return {"n": 0, "note": "no validation items (fewer than 2 items)"}
    with torch.inference_mode():
        inputs, target = take(val_idx)
        logits = module(*inputs)
    if kind == "seg":
        pred = (torch.sigmoid(logits) > 0.5).float()
        inter = (pred * target).sum(dim=(1, 2, 3))
        total = pred.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3))
        dice = torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.ones_like(total))
        return {"n": len(val_idx), "dice_mean": round(float(dice.mean()), 4)}
    y = target.numpy()
    pred = logits.argmax(dim=1).numpy()
    out = {
        "n": len(val_idx),
        "accuracy": round(float(np.mean(pred == y)), 4),
        "macro_f1": round(macro_f1(y, pred, n_classes), 4),
    }
    if kind == "chd":
        score = torch.softmax(logits, dim=1)[:, 1].numpy()
        auc = auroc(y, score)
        out["auroc"] = None if auc is None else round(auc, 4)
    return out
