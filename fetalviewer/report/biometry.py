"""The report's link to the clinical equations of :mod:`fetalviewer.analysis` (GA per parameter,
combined GA, EFW), with the SR equation codes (CID 12013) of each method.

The equations themselves live in the analysis package; this module only chooses which one applies
to a report row and turns a refusal into the report's "not available: <reason>" wording.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fetalviewer.report.content import not_available

#: Parameters with a Hadlock 1984 dating equation (FORMULAS.md).
HADLOCK_PARAMS = ("BPD", "HC", "AC", "FL")
#: (code value, meaning) of CID 12013 "Gestational Age Equations and Tables" per method name prefix.
GA_EQUATION_CODES: dict[str, tuple[str, str]] = {
    "Hadlock 1984 (BPD)": ("11902-4", "BPD, Hadlock 1984"),
    "Hadlock 1984 (HC)": ("11932-1", "HC, Hadlock 1984"),
    "Hadlock 1984 (AC)": ("11892-7", "AC, Hadlock 1984"),
    "Hadlock 1984 (FL)": ("11920-6", "FL, Hadlock 1984"),
    "Hadlock 1992 (CRL)": ("11910-7", "CRL, Hadlock 1992"),
    "Robinson 1975 (CRL)": ("11914-9", "CRL, Robinson 1975"),
}


@dataclass(frozen=True)
class GaResult:
    """A GA in days with its method and citation, or ``text`` saying why it is not available."""

    ga_days: float | None
    text: str
    method: str
    citation: str

    @property
    def equation_code(self) -> tuple[str, str] | None:
        return GA_EQUATION_CODES.get(self.method)


def _weeks_days(ga_days: float) -> str:
    total = int(math.floor(ga_days + 0.5))
    return f"{total // 7}w {total % 7}d"


def _from_estimate(estimate) -> GaResult:
    if estimate.value is None:
        return GaResult(
            None, not_available(f"{estimate.method}: {estimate.reason}"), estimate.method, estimate.citation
        )
    text = f"{_weeks_days(estimate.value)} ({estimate.method})"
    if getattr(estimate, "plus_minus", None):
        text += f" \u00b1 {estimate.plus_minus / 7.0:.1f} wk"
    return GaResult(float(estimate.value), text, estimate.method, estimate.citation)


def _dating():
    try:
        from fetalviewer.analysis import dating
    except ImportError as exc:
        return None, f"the GA equations module is not installed ({exc})"
    return dating, None


def ga_for_parameter(
    label: str | None, value_mm: float | None, uncalibrated_reason: str | None = None
) -> GaResult:
    """GA implied by one measurement: Hadlock 1984 for BPD/HC/AC/FL, Robinson 1975 for CRL."""
    if label is None:
        return GaResult(None, not_available("the measurement has no biometry label"), "", "")
    if value_mm is None:
        return GaResult(None, not_available(uncalibrated_reason or "no calibrated value in mm"), "", "")
    dating, problem = _dating()
    if dating is None:
        return GaResult(None, not_available(problem), "", "")
    if label in HADLOCK_PARAMS:
        return _from_estimate(dating.ga_hadlock1984_single(label, value_mm))
    if label == "CRL":
        return _from_estimate(dating.ga_robinson1975_crl(value_mm))
    return GaResult(None, not_available(f"no gestational-age equation is used for {label}"), "", "")


def mean_values_mm(rows: Iterable) -> dict[str, float]:
    """Per label, the mean calibrated value of the report's measurement rows."""
    values: dict[str, list[float]] = {}
    for row in rows:
        if row.value_mm is not None and row.label in HADLOCK_PARAMS + ("CRL",):
            values.setdefault(row.label, []).append(row.value_mm)
    return {label: sum(v) / len(v) for label, v in values.items()}


def combined_ga(values_mm: Mapping[str, float]) -> GaResult:
    """Hadlock 1984 GA from the parameters present (the analysis module picks the equation)."""
    present = {k: v for k, v in values_mm.items() if k in HADLOCK_PARAMS}
    if not present:
        return GaResult(None, not_available("no calibrated BPD, HC, AC or FL measurement"), "", "")
    dating, problem = _dating()
    if dating is None:
        return GaResult(None, not_available(problem), "", "")
    return _from_estimate(dating.ga_hadlock1984(present))


def estimated_fetal_weight(values_mm: Mapping[str, float]) -> str:
    """Hadlock 1985 EFW text when AC and FL exist (from :mod:`fetalviewer.analysis.efw`)."""
    if "AC" not in values_mm or "FL" not in values_mm:
        missing = [p for p in ("AC", "FL") if p not in values_mm]
        return not_available(f"EFW needs AC and FL; missing {', '.join(missing)}")
    try:
        from fetalviewer.analysis import efw
    except ImportError as exc:
        return not_available(f"the EFW equations module is not installed ({exc})")
    estimate = efw.efw_hadlock1985(
        values_mm["AC"], values_mm["FL"], hc_mm=values_mm.get("HC"), bpd_mm=values_mm.get("BPD")
    )
    if estimate.value is None:
        return not_available(f"{estimate.method}: {estimate.reason}")
    return f"{estimate.value:,.0f} g ({estimate.method}; {estimate.citation})"
