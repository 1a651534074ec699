"""Reading FetalCLIP-style checkpoints and checking them strictly against a model's tensors.

Formats: the official ``torch.save`` dict ``{"state_dict": ..., "epoch": ...}`` (keys with or without the
``module.`` prefix of DistributedDataParallel), a plain state dict, or a safetensors file. PyTorch files are
read with ``weights_only=True`` (no code execution) and memory-mapped where the format allows.
Every problem becomes :class:`~fetalviewer.errors.WeightsMismatch` / ``WeightsNotFound`` with a message
that names the file and what is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fetalviewer.errors import WeightsMismatch, WeightsNotFound

_FIRST_FEW = 5
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model")


def _is_safetensors(path: Path) -> bool:
    if path.suffix.lower() == ".safetensors":
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{"


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load the tensors of a checkpoint on the CPU, unwrapped and without ``module.`` prefixes."""
    path = Path(path)
    if not path.is_file():
        raise WeightsNotFound(f"{path}: weights file not found")
    if path.stat().st_size == 0:
        raise WeightsMismatch(f"{path} is empty (0 bytes): truncated download?")
    if _is_safetensors(path):
        raw = _load_safetensors(path)
    else:
        raw = _load_torch(path)
    return unwrap_state_dict(raw, source=str(path))


def _load_safetensors(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own SafetensorError (not exported everywhere)
        raise WeightsMismatch(f"{path} is truncated or not a safetensors file ({exc})") from exc


def _short_reason(exc: BaseException) -> str:
    """A one-line reason instead of torch's multi-paragraph advice."""
    text = str(exc)
    if "central directory" in text or "zip archive" in text or "file not found in archive" in text:
        return "incomplete or damaged zip archive"
    if "Unsupported global" in text:
        start = text.index("Unsupported global")
        return "holds Python objects a safe load refuses (" + text[start:].split(".")[0].split("\n")[0] + ")"
    if "Unsupported operand" in text or "invalid load key" in text:
        return "unrecognised content"
    if "WeightsUnpickler error:" in text:
        return text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()[0]
    if "Weights only load failed" in text:
        return "not a tensor checkpoint"
    return text.splitlines()[0] if text else type(exc).__name__


def _load_torch(path: Path) -> Any:
    import torch

    with open(path, "rb") as fh:
        is_zip = fh.read(2) == b"PK"
    try:
        # the zip format (torch.save since 1.6) can be memory-mapped; legacy files cannot
        return torch.load(str(path), map_location="cpu", weights_only=True, mmap=is_zip)
    except MemoryError:
        raise
    except Exception as exc:  # torch's unpickler raises many kinds (IndexError, UnpicklingError, ...)
        reason = _short_reason(exc)
        raise WeightsMismatch(f"{path} is truncated or not a PyTorch checkpoint ({reason})") from exc


def unwrap_state_dict(raw: Any, source: str = "checkpoint") -> dict[str, Any]:
    """Take ``state_dict`` out of a training checkpoint and strip a ``module.`` prefix."""
    import torch

    state = raw
    if isinstance(state, Mapping):
        for key in _WRAPPER_KEYS:
            inner = state.get(key)
            if (
                isinstance(inner, Mapping)
                and inner
                and all(isinstance(v, torch.Tensor) for v in inner.values())
            ):
                state = inner
                break
    if not isinstance(state, Mapping) or not state:
        raise WeightsMismatch(f"{source} holds no state dict (found {type(raw).__name__})")
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise WeightsMismatch(
            f"{source}: entries that are not tensors: {', '.join(map(str, not_tensors[:_FIRST_FEW]))}"
        )
    keys = list(state)
    if all(str(k).startswith("module.") for k in keys):
        return {str(k)[len("module.") :]: v for k, v in state.items()}
    return {str(k): v for k, v in state.items()}


def _shape(shape) -> str:
    return "[" + ",".join(str(int(s)) for s in shape) + "]"


def _first(names: list[str]) -> str:
    more = f" (+{len(names) - _FIRST_FEW} more)" if len(names) > _FIRST_FEW else ""
    return ", ".join(names[:_FIRST_FEW]) + more


def check_state_dict(expected: Mapping[str, Any], found: Mapping[str, Any], source: str) -> None:
    """Raise WeightsMismatch unless ``found`` has exactly the keys and shapes of ``expected``.

    ``expected`` maps names to tensors or shapes (e.g. ``model.state_dict()``).
    """

    def shape_of(v):
        return tuple(v.shape) if hasattr(v, "shape") else tuple(v)

    problems = []
    if len(expected) != len(found):
        problems.append(f"expected {len(expected)} tensors, found {len(found)}")
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing:
        problems.append(f"missing keys: {_first(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_first(unexpected)}")
    wrong = [
        f"{k}: expected shape {_shape(shape_of(expected[k]))}, found {_shape(shape_of(found[k]))}"
        for k in expected
        if k in found and shape_of(expected[k]) != shape_of(found[k])
    ]
    if wrong:
        problems.append(
            "; ".join(wrong[:_FIRST_FEW])
            + (f" (+{len(wrong) - _FIRST_FEW} more)" if len(wrong) > _FIRST_FEW else "")
        )
    if problems:
        raise WeightsMismatch(f"{source} does not match the model architecture: " + "; ".join(problems))


def load_into(
    model, state: Mapping[str, Any], source: str, progress: Callable[[str, float], None] | None = None
) -> None:
    """Check then load ``state`` into ``model`` strictly (dtype converted to the model's)."""
    check_state_dict(model.state_dict(), state, source)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # pragma: no cover - check_state_dict catches these first
        raise WeightsMismatch(f"{source} does not load strictly: {str(exc).splitlines()[0]}") from exc
    if progress is not None:
        progress("weights loaded", 1.0)
