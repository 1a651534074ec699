"""The outcome of one validation job: figures beside their published values, verdict, provenance."""

from __future__ import annotations

import datetime as _dt
import os
import platform
from dataclasses import dataclass, field
from typing import Any

from fetalviewer import __version__

PASS, FAIL, INFO = "PASS", "FAIL", "INFO"
NOT_COMPARED = "NOT COMPARED"


@dataclass(frozen=True)
class Figure:
    """One reported figure; ``status`` PASS / FAIL against ``published`` +- tolerance, or INFO (nothing to compare)."""

    name: str
    value: float | None
    published: float | None = None
    tolerance: str = ""
    status: str = INFO
    note: str = ""

    def __post_init__(self) -> None:
        if self.status not in (PASS, FAIL, INFO):
            raise ValueError(f"status must be PASS, FAIL or INFO, got {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class Series:
    """One plot series: ``kind`` "line" or "points"; ``color`` a hex RGB string."""

    label: str
    kind: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    color: str = "#1f3a5f"

    def __post_init__(self) -> None:
        if self.kind not in ("line", "points"):
            raise ValueError(f"kind must be 'line' or 'points', got {self.kind!r}")
        if len(self.xs) != len(self.ys):
            raise ValueError(f"{self.label}: xs and ys differ in length")


@dataclass(frozen=True)
class Plot:
    title: str
    x_label: str
    y_label: str
    series: tuple[Series, ...]
    caption: str = ""


def machine_info(device: str | None = None) -> dict[str, Any]:
    """Where the run happened: host, OS, CPU, Python/torch versions and the GPU's name when one was used."""
    info: dict[str, Any] = {
        "host": platform.node(),
        "os": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "fetalviewer": __version__,
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if device and device.startswith("cuda") and torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    except ImportError:
        pass
    return info


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class AcceptanceResult:
    """Everything the acceptance report shows. ``summary`` holds the exact keys scripts read (``--json``)."""

    job: str
    title: str
    summary: dict[str, Any]
    figures: list[Figure]
    model: dict[str, Any] | None
    dataset: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)
    plots: list[Plot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)
    date_utc: str = field(default_factory=utc_now)

    @property
    def verdict(self) -> str:
        statuses = [f.status for f in self.figures]
        if FAIL in statuses:
            return FAIL
        return PASS if PASS in statuses else NOT_COMPARED

    @property
    def verdict_reason(self) -> str:
        failed = [f for f in self.figures if f.status == FAIL]
        if failed:
            return "; ".join(
                f"{f.name} {_fmt(f.value)}, required {f.tolerance}" + (f" ({f.note})" if f.note else "")
                for f in failed
            )
        if self.verdict == PASS:
            n = sum(f.status == PASS for f in self.figures)
            return f"all {n} compared figures within their tolerances"
        return "no published figure applies to this model and data selection; figures reported only"

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "title": self.title,
            "verdict": self.verdict,
            "verdict_reason": self.verdict_reason,
            "summary": self.summary,
            "figures": [f.to_dict() for f in self.figures],
            "model": self.model,
            "dataset": self.dataset,
            "details": self.details,
            "notes": list(self.notes),
            "machine": self.machine,
            "date_utc": self.date_utc,
        }


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.5g}"


def compare(name: str, value: float | None, reference, note: str = "") -> Figure:
    """A Figure for ``value`` against a :class:`~fetalviewer.validate.published.Reference` (or None)."""
    if reference is None or value is None:
        return Figure(name, value, None, "", INFO, note)
    ok = reference.passes(value)
    return Figure(name, value, reference.value, reference.describe(), PASS if ok else FAIL, note or reference.source)
