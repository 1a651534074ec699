"""Gestational age from biometry: Hadlock 1984, INTERGROWTH-21st (2014 CRL, 2016 HC and HC+FL),
Robinson & Fleming 1975 and Hadlock 1992 (CRL).

Equations from the papers named on each function (collected in docs/formulas.md). The app passes mm everywhere; Hadlock's equations
take cm and give weeks, INTERGROWTH's take mm and give days: each function converts at its boundary
and every :class:`~fetalviewer.analysis.estimate.Estimate` carries ``ga_days``.

Two layers: ``*_weeks``/``*_days`` functions are the bare equations (no range check; used by the golden
tests), the ``ga_*`` functions return an Estimate and refuse inputs outside the valid range.

Valid ranges: where the paper publishes one (Hadlock HC 68-360 mm, INTERGROWTH CRL 15-95 mm) it is
used. Elsewhere the input range is derived by inverting the equation over the age span its study
covered, and the range's ``source`` says so: Hadlock 1984 BPD/AC/FL over 12-42 weeks (the span of the
published HC range: 68 mm -> 12.7 wk, 360 mm -> 42.4 wk), INTERGROWTH 2016 over its intended 14+0..25+6
weeks, Robinson 1975 over 6-14 weeks, Hadlock 1992 up to 18 weeks (its title's span 5-18 weeks; the
equation starts at 5.4 weeks).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from fetalviewer.analysis.estimate import Estimate, ValidRange, check_ranges, invert_increasing

HADLOCK_1984 = (
    "Hadlock FP, Deter RL, Harrist RB, Park SK. Estimating fetal age: computer-assisted analysis of "
    "multiple fetal growth parameters. Radiology 1984;152:497-501"
)
INTERGROWTH_2016 = (
    "Papageorghiou AT, Kemp B, Stones W, et al. Ultrasound-based gestational-age estimation in late "
    "first trimester and second trimester pregnancy. Ultrasound Obstet Gynecol 2016;48:719-726"
)
INTERGROWTH_2014 = (
    "Papageorghiou AT, Kennedy SH, Salomon LJ, et al. International standards for early fetal size and "
    "pregnancy dating based on ultrasound measurement of crown-rump length in the first trimester of "
    "pregnancy. Ultrasound Obstet Gynecol 2014;44:641-648"
)
ROBINSON_1975 = (
    "Robinson HP, Fleming JE. A critical evaluation of sonar crown-rump length measurements. "
    "Br J Obstet Gynaecol 1975;82:702-710"
)
HADLOCK_1992 = (
    "Hadlock FP, Shah YP, Kanon DJ, Lindsey JV. Fetal crown-rump length: reevaluation of relation to "
    "menstrual age (5-18 weeks) with high-resolution real-time US. Radiology 1992;182:501-505"
)




def _positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


# -- Hadlock 1984: bare equations (cm in, weeks out) --------------------------------------------------
def hadlock1984_bpd_weeks(bpd_cm: float) -> float:
    """MA = 9.54 + 1.482 BPD + 0.1676 BPD^2 (Hadlock 1984, Radiology 152:497)."""
    b = _positive("bpd_cm", bpd_cm)
    return 9.54 + 1.482 * b + 0.1676 * b * b


def hadlock1984_hc_weeks(hc_cm: float) -> float:
    """MA = 8.96 + 0.540 HC + 0.0003 HC^3 (Hadlock 1984; note HC cubed, not squared)."""
    h = _positive("hc_cm", hc_cm)
    return 8.96 + 0.540 * h + 0.0003 * h**3


def hadlock1984_ac_weeks(ac_cm: float) -> float:
    """MA = 8.14 + 0.753 AC + 0.0036 AC^2 (Hadlock 1984)."""
    a = _positive("ac_cm", ac_cm)
    return 8.14 + 0.753 * a + 0.0036 * a * a


def hadlock1984_fl_weeks(fl_cm: float) -> float:
    """MA = 10.35 + 2.460 FL + 0.170 FL^2 (Hadlock 1984)."""
    f = _positive("fl_cm", fl_cm)
    return 10.35 + 2.460 * f + 0.170 * f * f


#: Multi-parameter equations of Hadlock 1984 (cm in, weeks out), in the paper's table order.
HADLOCK_1984_COMBINED: dict[tuple[str, ...], Callable[[Mapping[str, float]], float]] = {
    ("BPD", "HC", "AC", "FL"): lambda c: (
        10.85 + 0.060 * c["HC"] * c["FL"] + 0.6700 * c["BPD"] + 0.1680 * c["AC"]
    ),
    ("HC", "AC", "FL"): lambda c: (
        10.33 + 0.031 * c["HC"] * c["FL"] + 0.3610 * c["HC"] + 0.0298 * c["AC"] * c["FL"]
    ),
    ("BPD", "AC", "FL"): lambda c: 10.61 + 0.175 * c["BPD"] * c["FL"] + 0.2970 * c["AC"] + 0.7100 * c["FL"],
    ("BPD", "HC", "FL"): lambda c: 11.38 + 0.070 * c["HC"] * c["FL"] + 0.9800 * c["BPD"],
    ("HC", "FL"): lambda c: 11.19 + 0.070 * c["HC"] * c["FL"] + 0.2630 * c["HC"],
    ("AC", "FL"): lambda c: 10.47 + 0.442 * c["AC"] + 0.3140 * c["FL"] ** 2 - 0.0121 * c["FL"] ** 3,
    ("HC", "AC"): lambda c: 10.31 + 0.012 * c["HC"] ** 2 + 0.3850 * c["AC"],
    ("HC",): lambda c: hadlock1984_hc_weeks(c["HC"]),
    ("BPD",): lambda c: hadlock1984_bpd_weeks(c["BPD"]),
    ("AC",): lambda c: hadlock1984_ac_weeks(c["AC"]),
    ("FL",): lambda c: hadlock1984_fl_weeks(c["FL"]),
}

_SINGLE = {
    "BPD": hadlock1984_bpd_weeks,
    "HC": hadlock1984_hc_weeks,
    "AC": hadlock1984_ac_weeks,
    "FL": hadlock1984_fl_weeks,
}
_DERIVED_12_42 = "derived: inputs for which the Hadlock 1984 equation gives 12-42 weeks"


def _hadlock_range(param: str) -> ValidRange:
    if param == "HC":
        return ValidRange("HC", 68.0, 360.0, "mm", "Hadlock 1984, published range")
    f = _SINGLE[param]
    lo = invert_increasing(f, 12.0, 0.01, 100.0) * 10.0
    hi = invert_increasing(f, 42.0, 0.01, 100.0) * 10.0
    return ValidRange(param, round(lo, 1), round(hi, 1), "mm", _DERIVED_12_42)


HADLOCK_1984_RANGES: dict[str, ValidRange] = {p: _hadlock_range(p) for p in ("BPD", "HC", "AC", "FL")}

#: +-2 SD of Hadlock 1984 GA-by-HC (weeks) by HC band (Hadlock 1984); band edges midway between the
#: published bands.
_HC_2SD_WEEKS = ((147.5, 1.19), (221.5, 1.48), (282.0, 2.06), (326.5, 2.98), (math.inf, 3.20))


def hadlock1984_hc_two_sd_weeks(hc_mm: float) -> float:
    return next(sd for edge, sd in _HC_2SD_WEEKS if hc_mm <= edge)


def _hadlock_method(params: tuple[str, ...]) -> str:
    return f"Hadlock 1984 ({'+'.join(params)})"


def ga_hadlock1984(measurements_mm: Mapping[str, float | None]) -> Estimate:
    """Hadlock 1984 GA from the parameters present (``{"BPD": mm, "HC": mm, "AC": mm, "FL": mm}``).

    Uses the equation with the most of the parameters present (the paper's table order breaks ties:
    e.g. BPD+HC+AC -> HC+AC); with one parameter only, that one's equation; with BPD and HC only, HC
    (independent of head shape). Every parameter used must lie in its range.
    """
    present = {k.upper(): v for k, v in measurements_mm.items() if v is not None}
    unknown = set(present) - set(HADLOCK_1984_RANGES)
    if unknown:
        raise ValueError(f"unknown Hadlock parameters {sorted(unknown)}; expected BPD, HC, AC, FL")
    chosen = next((k for k in HADLOCK_1984_COMBINED if set(k) <= set(present)), None)
    if chosen is None:
        return Estimate(
            "ga_days", None, "days", "Hadlock 1984", HADLOCK_1984, reason="no BPD, HC, AC or FL measurement"
        )
    inputs = {p: present[p] for p in chosen}
    ranges = tuple(HADLOCK_1984_RANGES[p] for p in chosen)
    method = _hadlock_method(chosen)
    reason = check_ranges(inputs, ranges)
    if reason:
        return Estimate("ga_days", None, "days", method, HADLOCK_1984, inputs, ranges, reason=reason)
    weeks = HADLOCK_1984_COMBINED[chosen]({p: v / 10.0 for p, v in inputs.items()})
    plus_minus = hadlock1984_hc_two_sd_weeks(inputs["HC"]) * 7.0 if chosen == ("HC",) else None
    return Estimate(
        "ga_days",
        weeks * 7.0,
        "days",
        method,
        HADLOCK_1984,
        inputs,
        ranges,
        plus_minus=plus_minus,
        note="+-2 SD" if plus_minus is not None else None,
    )


def ga_hadlock1984_single(param: str, value_mm: float | None) -> Estimate:
    """Hadlock 1984 GA from one parameter (``"BPD"``, ``"HC"``, ``"AC"`` or ``"FL"``)."""
    if param.upper() not in HADLOCK_1984_RANGES:
        raise ValueError(f"param must be one of BPD, HC, AC, FL, got {param!r}")
    if value_mm is None:
        return Estimate(
            "ga_days",
            None,
            "days",
            _hadlock_method((param.upper(),)),
            HADLOCK_1984,
            reason=f"{param.upper()} is missing",
        )
    return ga_hadlock1984({param.upper(): value_mm})


# -- INTERGROWTH-21st ----------------------------------------------------------------------------------
def intergrowth2016_hc_days(hc_mm: float) -> float:
    """ln GA = 0.05970 (ln HC)^2 + 6.409e-9 HC^3 + 3.3258 (Papageorghiou 2016, HC in mm, GA in days)."""
    h = _positive("hc_mm", hc_mm)
    return math.exp(0.05970 * math.log(h) ** 2 + 6.409e-9 * h**3 + 3.3258)


def intergrowth2016_hc_fl_days(hc_mm: float, fl_mm: float) -> float:
    """ln GA = 0.03243 (ln HC)^2 + 0.001644 FL ln HC + 3.813 (Papageorghiou 2016, mm in, days out)."""
    h = _positive("hc_mm", hc_mm)
    f = _positive("fl_mm", fl_mm)
    return math.exp(0.03243 * math.log(h) ** 2 + 0.001644 * f * math.log(h) + 3.813)


def intergrowth2014_crl_days(crl_mm: float) -> float:
    """GA = 40.9041 + 3.21585 sqrt(CRL) + 0.348956 CRL (Papageorghiou 2014, mm in, days out)."""
    c = _positive("crl_mm", crl_mm)
    return 40.9041 + 3.21585 * math.sqrt(c) + 0.348956 * c


IG_WINDOW_DAYS = (98.0, 181.0)  # 14+0 .. 25+6 weeks
IG_NOTE = "intended for scans at 14+0-25+6 weeks without a first-trimester CRL"
IG_HC_RANGE = ValidRange(
    "HC",
    round(invert_increasing(intergrowth2016_hc_days, IG_WINDOW_DAYS[0], 1.0, 500.0), 1),
    round(invert_increasing(intergrowth2016_hc_days, IG_WINDOW_DAYS[1], 1.0, 500.0), 1),
    "mm",
    "derived: HC for which INTERGROWTH-21st 2016 gives 14+0-25+6 weeks, its intended window",
)
IG_CRL_RANGE = ValidRange("CRL", 15.0, 95.0, "mm", "INTERGROWTH-21st 2014, published range")


def ga_intergrowth2016_hc(hc_mm: float | None) -> Estimate:
    """INTERGROWTH-21st GA from HC alone (Papageorghiou 2016), refused outside 14+0-25+6 weeks."""
    method = "INTERGROWTH-21st 2016 (HC)"
    inputs = {"HC": hc_mm} if hc_mm is not None else {}
    reason = check_ranges(inputs, (IG_HC_RANGE,))
    if reason:
        return Estimate(
            "ga_days", None, "days", method, INTERGROWTH_2016, inputs, (IG_HC_RANGE,), reason=reason
        )
    return Estimate(
        "ga_days",
        intergrowth2016_hc_days(hc_mm),
        "days",
        method,
        INTERGROWTH_2016,
        inputs,
        (IG_HC_RANGE,),
        note=IG_NOTE,
    )


def ga_intergrowth2016_hc_fl(hc_mm: float | None, fl_mm: float | None) -> Estimate:
    """INTERGROWTH-21st GA from HC and FL (Papageorghiou 2016), refused outside 14+0-25+6 weeks."""
    method = "INTERGROWTH-21st 2016 (HC+FL)"
    inputs = {k: v for k, v in (("HC", hc_mm), ("FL", fl_mm)) if v is not None}
    fl_range = ValidRange("FL", 1.0, 100.0, "mm", "plausibility limit")
    reason = check_ranges(inputs, (IG_HC_RANGE, fl_range))
    if reason is None:
        days = intergrowth2016_hc_fl_days(hc_mm, fl_mm)
        lo, hi = IG_WINDOW_DAYS
        if lo <= days <= hi:
            return Estimate(
                "ga_days", days, "days", method, INTERGROWTH_2016, inputs, (IG_HC_RANGE,), note=IG_NOTE
            )
        reason = f"the result ({days:.1f} d) is outside the equation's intended window 14+0-25+6 weeks"
    return Estimate("ga_days", None, "days", method, INTERGROWTH_2016, inputs, (IG_HC_RANGE,), reason=reason)


def ga_intergrowth2014_crl(crl_mm: float | None) -> Estimate:
    """INTERGROWTH-21st GA from CRL (Papageorghiou 2014), CRL 15-95 mm."""
    method = "INTERGROWTH-21st 2014 (CRL)"
    inputs = {"CRL": crl_mm} if crl_mm is not None else {}
    reason = check_ranges(inputs, (IG_CRL_RANGE,))
    if reason:
        return Estimate(
            "ga_days", None, "days", method, INTERGROWTH_2014, inputs, (IG_CRL_RANGE,), reason=reason
        )
    return Estimate(
        "ga_days", intergrowth2014_crl_days(crl_mm), "days", method, INTERGROWTH_2014, inputs, (IG_CRL_RANGE,)
    )


# -- CRL: Robinson 1975 and Hadlock 1992 ---------------------------------------------------------------
def robinson1975_crl_days(crl_mm: float) -> float:
    """GA = 8.052 sqrt(CRL) + 23.73 (Robinson & Fleming 1975, CRL in mm, GA in days)."""
    return 8.052 * math.sqrt(_positive("crl_mm", crl_mm)) + 23.73


def hadlock1992_crl_weeks(crl_cm: float) -> float:
    """GA = exp(1.684969 + 0.315646 CRL - 0.049306 CRL^2 + 0.004057 CRL^3 - 0.000120456 CRL^4)
    (Hadlock 1992, CRL in cm, GA in weeks)."""
    c = _positive("crl_cm", crl_cm)
    return math.exp(1.684969 + 0.315646 * c - 0.049306 * c**2 + 0.004057 * c**3 - 0.000120456 * c**4)


ROBINSON_RANGE = ValidRange(
    "CRL",
    round(invert_increasing(robinson1975_crl_days, 42.0, 0.01, 200.0), 1),
    round(invert_increasing(robinson1975_crl_days, 98.0, 0.01, 200.0), 1),
    "mm",
    "derived: CRL for which Robinson 1975 gives 6-14 weeks, the study's span",
)
HADLOCK_1992_RANGE = ValidRange(
    "CRL",
    1.0,
    round(invert_increasing(lambda mm: hadlock1992_crl_weeks(mm / 10.0), 18.0, 1.0, 125.0), 1),
    "mm",
    "derived: up to the CRL for which Hadlock 1992 gives 18 weeks, the study's span (the equation "
    "gives 5.4 weeks at CRL 0, so the lower limit is 1 mm)",
)


def ga_robinson1975_crl(crl_mm: float | None) -> Estimate:
    method = "Robinson 1975 (CRL)"
    inputs = {"CRL": crl_mm} if crl_mm is not None else {}
    reason = check_ranges(inputs, (ROBINSON_RANGE,))
    if reason:
        return Estimate(
            "ga_days", None, "days", method, ROBINSON_1975, inputs, (ROBINSON_RANGE,), reason=reason
        )
    return Estimate(
        "ga_days", robinson1975_crl_days(crl_mm), "days", method, ROBINSON_1975, inputs, (ROBINSON_RANGE,)
    )


def ga_hadlock1992_crl(crl_mm: float | None) -> Estimate:
    method = "Hadlock 1992 (CRL)"
    inputs = {"CRL": crl_mm} if crl_mm is not None else {}
    reason = check_ranges(inputs, (HADLOCK_1992_RANGE,))
    if reason:
        return Estimate(
            "ga_days", None, "days", method, HADLOCK_1992, inputs, (HADLOCK_1992_RANGE,), reason=reason
        )
    return Estimate(
        "ga_days",
        hadlock1992_crl_weeks(crl_mm / 10.0) * 7.0,
        "days",
        method,
        HADLOCK_1992,
        inputs,
        (HADLOCK_1992_RANGE,),
    )
