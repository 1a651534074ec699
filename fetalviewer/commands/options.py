"""Argument helpers shared by every ``fetalviewer`` subcommand: one spelling, one set of choices.

* :func:`add_paths_argument` - the positional DICOM/image paths;
* :func:`add_model_options` - ``--model``, ``--weights``, ``--config``, ``--device`` (and ``--precision``
  where a command runs batched inference), read back as ``args.model``, ``args.weights``,
  ``args.config``, ``args.device`` (``args.precision``);
* :func:`add_json_option` - ``--json OUT`` (``-`` = stdout);
* :func:`require_existing` - refuse paths that do not exist (:class:`~fetalviewer.errors.UsageError`,
  which the command line turns into exit status 2 with the message).

A new command uses these instead of its own ``add_argument`` calls so that ``--device`` and friends
accept the same values everywhere.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from fetalviewer.errors import UsageError
from fetalviewer.model.devices import DEVICE_CHOICES
from fetalviewer.model.families import MODEL_CHOICES

PRECISION_CHOICES: tuple[str, ...] = ("auto", "fp32", "fp16", "bf16")


def add_paths_argument(
    parser: argparse.ArgumentParser,
    *,
    nargs: str = "+",
    help: str = "DICOM files, folders or a DICOMDIR",  # noqa: A002 - argparse's own word
) -> None:
    """The positional ``PATH...`` argument (read back as ``args.paths``)."""
    parser.add_argument("paths", nargs=nargs, metavar="PATH", help=help)


def add_model_options(
    parser: argparse.ArgumentParser,
    *,
    device_default: str = "auto",
    precision: bool = False,
    weights_help: str | None = None,
) -> argparse._ArgumentGroup:
    """``--model``, ``--weights``, ``--config``, ``--device`` [, ``--precision``] in one "model" group."""
    if device_default not in DEVICE_CHOICES:
        raise ValueError(f"device_default must be one of {', '.join(DEVICE_CHOICES)}, got {device_default!r}")
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        default="auto",
        choices=MODEL_CHOICES,
        help="image-text model: auto (FetalCLIP on a GPU, MobileFetalCLIP on the CPU when installed, else "
        "the installed one), fetalclip or mobilefetalclip (default auto)",
    )
    group.add_argument(
        "--weights", metavar="W", help=weights_help or "model weights file (default: the installed one)"
    )
    group.add_argument(
        "--config", metavar="C", help="open_clip model config JSON for --weights (default: the model's own)"
    )
    group.add_argument(
        "--device",
        default=device_default,
        choices=DEVICE_CHOICES,
        help=f"where the model runs: auto = CUDA, then Apple MPS, then the CPU (default {device_default})",
    )
    if precision:
        group.add_argument(
            "--precision",
            default="auto",
            choices=PRECISION_CHOICES,
            help="CUDA autocast precision (auto = fp16 on CUDA, fp32 elsewhere)",
        )
    return group


def add_json_option(parser: argparse.ArgumentParser, *, help: str | None = None) -> None:  # noqa: A002
    """``--json OUT``: write the command's results as JSON to OUT (``-`` = stdout)."""
    parser.add_argument(
        "--json", metavar="OUT", help=help or "write the results as JSON to OUT ('-' = stdout)"
    )


def write_json_output(target: str, data) -> None:
    """Write ``data`` as indented JSON where ``--json OUT`` says: stdout for ``-``, else OUT atomically."""
    import json

    text = json.dumps(data, indent=2)
    if target == "-":
        print(text)
        return
    from fetalviewer.atomic import write_text_atomic

    write_text_atomic(target, text)


def require_existing(paths: Iterable[str | Path]) -> list[Path]:
    """``paths`` as :class:`Path`; raises :class:`UsageError` naming each one that does not exist."""
    out = [Path(p) for p in paths]
    missing = [str(p) for p in out if not p.exists()]
    if missing:
        raise UsageError(f"{', '.join(missing)}: no such file or folder")
    return out


def require_supported_model(args: argparse.Namespace) -> None:
    """Refuse (exit 2) a ``--model`` choice the loader does not know (:data:`MODEL_CHOICES`)."""
    choice = getattr(args, "model", "auto")
    if choice not in MODEL_CHOICES:
        raise UsageError(f"--model {choice}: choose one of {', '.join(MODEL_CHOICES)}")
