"""``fetalviewer weights install PATH`` / ``weights status``: the FetalCLIP and MobileFetalCLIP weights the app
uses (both can be installed side by side; which model a file holds is recognised from its tensors)."""

from __future__ import annotations

import argparse
import json
import sys

from fetalviewer.errors import FetalViewerError, UsageError

NAME = "weights"
HELP = "install or show the FetalCLIP / MobileFetalCLIP weights (checked to load strictly; never downloaded)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="weights_action", metavar="ACTION")
    install = sub.add_parser(
        "install", help="check that a weights file loads strictly and use it from now on"
    )
    install.add_argument("path", metavar="PATH", help="FetalCLIP_weights.pt or mobile_fetal_clip_weights.pt (or .safetensors), or the folder "
                         "holding it")  # fmt: skip
    install.add_argument("--config", metavar="C", help="open_clip model config JSON (default: the model's own)")
    status = sub.add_parser("status", help="which weights file is used, its size, sha256, licence and origin")
    status.add_argument("--weights", metavar="W", help="show this file instead of the configured one")
    status.add_argument("--json", action="store_true", help="print JSON")


def _progress(stage: str, fraction: float) -> None:
    if sys.stderr is not None:
        print(f"\r{stage} {100 * fraction:.0f}%      ", end="", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fetalviewer.model.weights import install_weights, weights_in_folder, weights_status

    action = getattr(args, "weights_action", None)
    if action == "install":
        try:
            path, config = args.path, args.config
            if Path(path).is_dir():  # the folder the user downloaded: take its weights (and config)
                weights_file, folder_config = weights_in_folder(path)
                path, config = str(weights_file), config or (str(folder_config) if folder_config else None)
            record = install_weights(path, config, progress=_progress)
        except FetalViewerError:  # exit 2 with the message (fetalviewer.cli); end the progress line first
            if sys.stderr is not None:
                print(file=sys.stderr)
            raise
        if sys.stderr is not None:
            print("\r" + " " * 50 + "\r", end="", file=sys.stderr)
        print(f"installed {record['weights_path']}")
        print(f"  holds {record['description']}")
        print(f"  size {record['weights_size_bytes']:,} bytes, sha256 {record['weights_sha256']}")
        print(f"  config {record['weights_config_name']}; loads strictly")
        return 0
    if action == "status":
        status = weights_status(getattr(args, "weights", None))
        if args.json:
            print(json.dumps(status, indent=2))
        elif not status["available"]:
            print(f"no weights: {status['reason']}")
        else:
            for model in status["models"]:
                _print_status(model, in_use=model["model"] == status["model"])
        return 0 if status["available"] else 1
    raise UsageError("usage: fetalviewer weights {install PATH | status}")


def _print_status(status: dict, in_use: bool) -> None:
    used = " (used by --model auto on this machine)" if in_use else ""
    print(f"{status['description']}{used}")
    print(f"  weights: {status['weights_path']} (from {status['origin']})")
    print(f"  size {status['size_bytes']:,} bytes")
    print(f"  sha256 {status['sha256']}")
    print(f"  licence {status['licence']}")
    if status.get("installed_at"):
        print(f"  installed {status['installed_at']}")
    if status["matches_reported_fetalclip_sha256"]:
        print("  matches the sha256 reported for the published FetalCLIP_weights.pt")
    if status["matches_published_mobilefetalclip_sha256"]:
        print("  matches the sha256 of the published mobile_fetal_clip_weights.pt")
    if status.get("warning"):
        print(f"  warning: {status['warning']}")
