"""Results of the clinical equations: a value with its method and citation, or a refusal with the reason.

Every equation of :mod:`fetalviewer.analysis.dating`, :mod:`~fetalviewer.analysis.efw` and
:mod:`~fetalviewer.analysis.who_hc` returns an :class:`Estimate`. When an input lies outside the
equation's valid range the estimate has ``value=None`` and a ``reason`` that names the range; nothing is
extrapolated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ValidRange:
    """Inclusive range of one input (``parameter`` in ``unit``) and where the limits come from."""

    parameter: str
    low: float
    high: float
    unit: str
    source: str

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low >= self.high:
            raise ValueError(
                f"ValidRange low/high must be finite with low < high, got {self.low}, {self.high}"
            )

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def describe(self) -> str:
        return f"{self.parameter} {self.low:g}-{self.high:g} {self.unit}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameter": self.parameter,
            "low": self.low,
            "high": self.high,
            "unit": self.unit,
            "source": self.source,
        }


@dataclass(frozen=True)
class Estimate:
    """One computed quantity (``ga_days``, ``efw_g``, ``hc_mm``, ...) or the reason it is unavailable.

    ``plus_minus`` is the published +-2 SD (same unit as the value) where the source gives one.
    """

    quantity: str
    value: float | None
    unit: str
    method: str
    citation: str
    inputs: Mapping[str, float] = field(default_factory=dict)
    valid_ranges: tuple[ValidRange, ...] = ()
    reason: str | None = None
    plus_minus: float | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if self.value is None and not self.reason:
            raise ValueError("Estimate.reason is required when value is None")
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"Estimate.value must be finite, got {self.value}")
        object.__setattr__(self, "inputs", dict(self.inputs))

    @property
    def ok(self) -> bool:
        return self.value is not None

    def display_value(self) -> str:
        if self.value is None:
            return "unavailable"
        if self.unit == "days":
            text = format_weeks_days(self.value)
            if self.plus_minus is not None:
                text += format_plus_minus_weeks(self.plus_minus)
            return text
        if self.unit == "g":
            return f"{self.value:,.0f} g"
        return f"{self.value:.1f} {self.unit}"

    def display_text(self) -> str:
        """E.g. ``"Hadlock 1984 (HC): 20w 0d (140.1 d) +- 1.5 wk"`` or the refusal with its reason."""
        if self.value is None:
            return f"{self.method}: unavailable ({self.reason})"
        extra = f" ({self.value:.1f} d)" if self.unit == "days" else ""
        return f"{self.method}: {self.display_value()}{extra}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "quantity": self.quantity,
            "value": self.value,
            "unit": self.unit,
            "display": self.display_value(),
            "method": self.method,
            "citation": self.citation,
            "inputs": dict(self.inputs),
            "valid_ranges": [r.to_dict() for r in self.valid_ranges],
            "reason": self.reason,
            "plus_minus": self.plus_minus,
            "note": self.note,
        }


def check_ranges(inputs: Mapping[str, float], ranges: tuple[ValidRange, ...]) -> str | None:
    """The refusal reason when an input is missing, not finite, or out of its range; else None."""
    for r in ranges:
        value = inputs.get(r.parameter)
        if value is None:
            return f"{r.parameter} is missing"
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return f"{r.parameter} must be a finite number, got {value!r}"
        if not r.contains(value):
            return f"{r.parameter} {value:.1f} {r.unit} is outside the valid range {r.low:g}-{r.high:g} {r.unit} ({r.source})"
    return None


def format_weeks_days(ga_days: float) -> str:
    """``140.1`` -> ``"20w 0d"``: completed weeks and days, rounded to the nearest day."""
    if ga_days is None or not math.isfinite(ga_days) or ga_days < 0:
        raise ValueError(f"ga_days must be a finite number >= 0, got {ga_days!r}")
    total = int(math.floor(ga_days + 0.5))
    return f"{total // 7}w {total % 7}d"


def format_plus_minus_weeks(plus_minus_days: float) -> str:
    """``10.4`` -> ``" \u00b1 1.5 wk"``: an uncertainty in days, written after a GA in weeks."""
    return f" \u00b1 {float(plus_minus_days) / 7.0:.1f} wk"


def invert_increasing(f: Callable[[float], float], target: float, lo: float, hi: float) -> float:
    """x in [lo, hi] with f(x) = target for an increasing f (bisection to 1e-10)."""
    if not f(lo) <= target <= f(hi):
        raise ValueError(f"target {target} is outside f([{lo}, {hi}])")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-10:
            break
    return 0.5 * (lo + hi)
