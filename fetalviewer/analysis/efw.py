"""Estimated fetal weight: Hadlock 1985 (four variants) and INTERGROWTH-21st (Stirnemann 2017).

Equations of Hadlock 1985 and Stirnemann 2017 (INTERGROWTH-21st), cm in (docs/formulas.md). The app passes mm; each function
converts at its boundary. Neither paper states an input range, so inputs are held to
plausibility limits: the Hadlock 1984 dating ranges of the same parameters (12-42 weeks, see
:mod:`fetalviewer.analysis.dating`); the range ``source`` says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from fetalviewer.analysis.dating import HADLOCK_1984_RANGES
from fetalviewer.analysis.estimate import Estimate, ValidRange, check_ranges

HADLOCK_1985 = (
    "Hadlock FP, Harrist RB, Sharman RS, Deter RL, Park SK. Estimation of fetal weight with the use of "
    "head, body, and femur measurements - a prospective study. Am J Obstet Gynecol 1985;151:333-337"
)
STIRNEMANN_2017 = (
    "Stirnemann J, Villar J, Salomon LJ, et al. International estimated fetal weight standards of the "
    "INTERGROWTH-21st Project. Ultrasound Obstet Gynecol 2017;49:478-486"
)

#: Hadlock 1985 log10(EFW g) from cm, most parameters first.
HADLOCK_1985_EQUATIONS: dict[tuple[str, ...], Callable[[Mapping[str, float]], float]] = {
    ("BPD", "HC", "AC", "FL"): lambda c: (
        1.3596
        - 0.00386 * c["AC"] * c["FL"]
        + 0.0064 * c["HC"]
        + 0.00061 * c["BPD"] * c["AC"]
        + 0.0424 * c["AC"]
        + 0.174 * c["FL"]
    ),
    ("HC", "AC", "FL"): lambda c: (
        1.326 - 0.00326 * c["AC"] * c["FL"] + 0.0107 * c["HC"] + 0.0438 * c["AC"] + 0.158 * c["FL"]
    ),
    ("BPD", "AC", "FL"): lambda c: (
        1.335 - 0.0034 * c["AC"] * c["FL"] + 0.0316 * c["BPD"] + 0.0457 * c["AC"] + 0.1623 * c["FL"]
    ),
    ("AC", "FL"): lambda c: 1.304 + 0.05281 * c["AC"] + 0.1938 * c["FL"] - 0.004 * c["AC"] * c["FL"],
}

_PLAUSIBLE = {
    p: ValidRange(p, r.low, r.high, "mm", "plausibility limit: Hadlock 1984 dating range (12-42 weeks)")
    for p, r in HADLOCK_1984_RANGES.items()
}


def hadlock1985_efw_g(
    ac_cm: float, fl_cm: float, hc_cm: float | None = None, bpd_cm: float | None = None
) -> float:
    """Bare Hadlock 1985 EFW in grams (cm in); the variant follows the parameters given."""
    values = {"AC": ac_cm, "FL": fl_cm, "HC": hc_cm, "BPD": bpd_cm}
    present = {k for k, v in values.items() if v is not None}
    key = next(k for k in HADLOCK_1985_EQUATIONS if set(k) <= present)
    return 10.0 ** HADLOCK_1985_EQUATIONS[key]({k: float(values[k]) for k in key})


def efw_hadlock1985(
    ac_mm: float | None, fl_mm: float | None, hc_mm: float | None = None, bpd_mm: float | None = None
) -> Estimate:
    """Hadlock 1985 EFW using every parameter present (BPD+HC+AC+FL, HC+AC+FL, BPD+AC+FL or AC+FL)."""
    values = {"AC": ac_mm, "FL": fl_mm, "HC": hc_mm, "BPD": bpd_mm}
    present = {k for k, v in values.items() if v is not None}
    key = next((k for k in HADLOCK_1985_EQUATIONS if set(k) <= present), None)
    if key is None:
        missing = " and ".join(p for p in ("AC", "FL") if p not in present)
        return Estimate(
            "efw_g", None, "g", "Hadlock 1985", HADLOCK_1985, reason=f"needs AC and FL ({missing} missing)"
        )
    method = f"Hadlock 1985 ({'+'.join(key)})"
    inputs = {k: values[k] for k in key}
    ranges = tuple(_PLAUSIBLE[k] for k in key)
    reason = check_ranges(inputs, ranges)
    if reason:
        return Estimate("efw_g", None, "g", method, HADLOCK_1985, inputs, ranges, reason=reason)
    grams = 10.0 ** HADLOCK_1985_EQUATIONS[key]({k: v / 10.0 for k, v in inputs.items()})
    return Estimate("efw_g", grams, "g", method, HADLOCK_1985, inputs, ranges)


def intergrowth_efw_g(ac_cm: float, hc_cm: float) -> float:
    """ln EFW = 5.084820 - 54.06633 (AC/100)^3 - 95.80076 (AC/100)^3 ln(AC/100) + 3.136370 (HC/100)
    (Stirnemann 2017, Ultrasound Obstet Gynecol 49:478; AC and HC in cm)."""
    a = float(ac_cm) / 100.0
    h = float(hc_cm) / 100.0
    if a <= 0 or h <= 0:
        raise ValueError(f"ac_cm and hc_cm must be > 0, got {ac_cm!r}, {hc_cm!r}")
    return math.exp(5.084820 - 54.06633 * a**3 - 95.80076 * a**3 * math.log(a) + 3.136370 * h)


def efw_intergrowth(ac_mm: float | None, hc_mm: float | None) -> Estimate:
    """INTERGROWTH-21st EFW from AC and HC (Stirnemann 2017)."""
    method = "INTERGROWTH-21st 2017 (AC+HC)"
    inputs = {k: v for k, v in (("AC", ac_mm), ("HC", hc_mm)) if v is not None}
    ranges = (_PLAUSIBLE["AC"], _PLAUSIBLE["HC"])
    reason = check_ranges(inputs, ranges)
    if reason:
        return Estimate("efw_g", None, "g", method, STIRNEMANN_2017, inputs, ranges, reason=reason)
    return Estimate(
        "efw_g", intergrowth_efw_g(ac_mm / 10.0, hc_mm / 10.0), "g", method, STIRNEMANN_2017, inputs, ranges
    )
