"""Device and precision choice for inference: CUDA (fp16/bf16 autocast), Apple MPS, or the CPU."""

from __future__ import annotations

import os

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: str = "auto", precision: str = "auto"):
    """Return (torch device string, autocast dtype or None for fp32).

    "auto" picks CUDA, then MPS, then the CPU. On CUDA, precision "auto" means fp16 autocast; the
    CPU and MPS run fp32. Asking for a device that is not there raises ValueError naming it.
    """
    import torch

    if not isinstance(device, str):
        raise TypeError("device must be a string")
    kind = device.split(":")[0]
    if kind not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got {device!r}")
    if precision not in ("auto", "fp32", "fp16", "bf16"):
        raise ValueError(f"precision must be auto, fp32, fp16 or bf16, got {precision!r}")
    if kind == "auto":
        if torch.cuda.is_available():
            device, kind = "cuda", "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device, kind = "mps", "mps"
        else:
            device, kind = "cpu", "cpu"
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' asked for, but PyTorch sees no CUDA GPU")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' asked for, but Apple MPS is not available")
    dtype = None
    if kind == "cuda":
        dtype = {"auto": torch.float16, "fp16": torch.float16, "bf16": torch.bfloat16, "fp32": None}[
            precision
        ]
    return device, dtype


def cpu_threads_for_inference(interactive: bool = True) -> int:
    """CPU threads for the model: every core for a command, all but one when a window must stay responsive.

    On a 2-core machine this is the difference between 1 and 2 threads, about 1.8x in the image towers'
    speed (measured in bench/bench_engines.py).
    """
    cores = usable_cpu_count()
    return max(1, cores - 1) if interactive else cores


def usable_cpu_count() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under ``taskset`` or a container), else all."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 2
