"""``fetalviewer train-head seg|chd|plane``: train a FetalCLIP-feature head on your own labelled data.

The FetalCLIP backbone stays frozen; the head follows the paper's recipe (AdamW lr 3e-4, weight decay
0.01; seg: UNETR-style decoder on blocks 6/8/12/24, Dice loss, batch 8, 100 epochs; plane: linear probe,
batch 64, 50 epochs; chd: linear probe on mean+max pooled heart-frame embeddings, batch 64, 50 epochs).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from fetalviewer.commands.options import add_model_options, require_supported_model

NAME = "train-head"
HELP = "train a FetalCLIP-feature head (seg, chd or plane) on your own labelled data"

LAYOUTS = """data folder layouts:
  seg    DIR/images/NAME.png + DIR/masks/NAME.png (same name; non-zero mask = the structure),
         or an HC18-style folder (pixel_size_and_hc.csv, images/*_HC.png + *_HC_Annotation.png)
  plane  DIR/<class>/*.png, one sub-folder per class (use the app's plane keys: abdomen, brain, femur,
         heart, kidney, lips_nose, profile_patient, spine, cervix)
  chd    DIR/labels.csv with columns clip,label: clip = a DICOM cine file or a folder of frame images
         (relative to DIR), label = normal|abnormal; every clip should be a heart clip

20 % of the items (fixed hash of their relative path) are held out for the validation score.
Features are cached and a checkpoint is written after every epoch in --work: rerun with --resume to
continue. The head is written atomically to --out (default: your heads folder), where the app finds it."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = LAYOUTS
    parser.add_argument("kind", choices=("seg", "chd", "plane"), help="which head to train")
    parser.add_argument("--data", required=True, metavar="DIR", help="labelled data folder (layouts below)")
    parser.add_argument("--epochs", type=int, help="epochs (default: the paper's, 100 seg / 50 probes)")
    parser.add_argument("--batch", type=int, help="batch size (default: the paper's, 8 seg / 64 probes)")
    parser.add_argument("--lr", type=float, default=3e-4, help="AdamW learning rate (default 3e-4)")
    parser.add_argument("--val-percent", type=int, default=20, help="share held out for validation (20)")
    parser.add_argument("--max-frames", type=int, default=16, help="chd: frames sampled per clip (16)")
    parser.add_argument("--structure", default="head", help="seg: name of the segmented structure (head)")
    parser.add_argument("--out", metavar="HEAD", help="output head file (*.fvhead.safetensors)")
    parser.add_argument("--work", metavar="DIR", help="feature cache and checkpoint folder")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --work")
    add_model_options(parser, device_default="cpu", weights_help="backbone weights (default: the installed ones)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)


def _default_paths(args, config_name: str) -> tuple[Path, Path]:
    from fetalviewer.model.heads.headfile import HEAD_SUFFIX
    from fetalviewer.paths import user_dirs

    dirs = user_dirs()
    tag = hashlib.sha256(str(Path(args.data).resolve()).encode()).hexdigest()[:10]
    work = (
        Path(args.work) if args.work else dirs.cache_dir / "train_head" / f"{args.kind}-{config_name}-{tag}"
    )
    out = Path(args.out) if args.out else dirs.heads_dir / f"{args.kind}-{config_name}-{tag}{HEAD_SUFFIX}"
    return work, out


def run(args: argparse.Namespace) -> int:
    from fetalviewer.errors import UsageError

    try:
        return _run(args)
    except ValueError as exc:  # a bad option value or data layout the trainer refuses
        raise UsageError(str(exc)) from exc


def _run(args: argparse.Namespace) -> int:
    require_supported_model(args)
    import torch

    from fetalviewer.errors import UsageError
    from fetalviewer.model.heads.training import TrainOptions, train_head
    from fetalviewer.model.selection import select_model

    if args.threads:
        torch.set_num_threads(args.threads)
    data = Path(args.data)
    if not data.is_dir():
        raise UsageError(f"{data}: not a folder")
    selection = select_model(getattr(args, "model", "auto"), args.weights, args.config, args.device)
    print(f"loading backbone {selection.weights_path} ...", flush=True)
    loaded = selection.load()
    work, out = _default_paths(args, loaded.model_name)
    opts = TrainOptions(
        epochs=args.epochs,
        batch=args.batch,
        lr=args.lr,
        val_percent=args.val_percent,
        seed=args.seed,
        max_frames=args.max_frames,
        structure=args.structure,
    )
    print(f"training a '{args.kind}' head on {data} (work folder {work})", flush=True)
    result = train_head(
        args.kind,
        data,
        loaded,
        out,
        work,
        opts,
        resume=args.resume,
        progress=lambda text: print(text, flush=True),
    )
    scores = ", ".join(f"{k} {v}" for k, v in result.header.validation.items())
    print(f"validation score: {scores}")
    print(f"head written to {result.head_path}")
    return 0
