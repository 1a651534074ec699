"""WHO fetal growth charts for head circumference (Kiserud 2017) and the GA read off its median.

``HC(t) = exp(b0 + b1 t + b2 t^2 + b3 t^3)`` mm, ``t`` = GA in weeks, with the 2.5th, 50th and 97.5th
centile coefficients (Kiserud et al. 2017, PLoS Med 14:e1002220; docs/formulas.md). The charts cover 14-40 weeks; nothing
is extrapolated beyond.

Kiserud T, Piaggio G, Carroli G, et al. The World Health Organization Fetal Growth Charts: a
multinational longitudinal study of ultrasound biometric measurements and estimated fetal weight.
PLoS Med 2017;14(1):e1002220.
"""

from __future__ import annotations

import numpy as np

from fetalviewer.analysis.estimate import Estimate, ValidRange, check_ranges, invert_increasing

KISERUD_2017 = (
    "Kiserud T, Piaggio G, Carroli G, et al. The World Health Organization Fetal Growth Charts: a "
    "multinational longitudinal study of ultrasound biometric measurements and estimated fetal weight. "
    "PLoS Med 2017;14(1):e1002220"
)

#: Centile -> (b0, b1, b2, b3), Kiserud et al. 2017.
WHO_HC_COEFFICIENTS: dict[float, tuple[float, float, float, float]] = {
    2.5: (1.59317517131532, 0.29459800552433, -7.3860372566707e-3, 6.56951770216148e-5),
    50.0: (2.09924879247164, 0.253373656106037, -6.05647816678282e-3, 5.14256072059917e-5),
    97.5: (2.50074069629423, 0.220067854715719, -4.93623111462443e-3, 3.89066000946519e-5),
}
WHO_WEEKS = (14.0, 40.0)


def who_hc_centile_mm(ga_days: float | np.ndarray, centile: float = 50.0) -> float | np.ndarray:
    """The WHO HC centile curve (Kiserud 2017) in mm at GA in days (``t`` = days / 7 weeks), for a number or
    an array; the curve itself, without the chart's 14-40 week check (:func:`who_hc_mm` makes it)."""
    if centile not in WHO_HC_COEFFICIENTS:
        raise ValueError(f"centile must be one of {sorted(WHO_HC_COEFFICIENTS)}, got {centile!r}")
    b0, b1, b2, b3 = WHO_HC_COEFFICIENTS[centile]
    t = np.asarray(ga_days, dtype=np.float64) / 7.0
    hc = np.exp(b0 + b1 * t + b2 * t * t + b3 * t**3)
    return float(hc) if np.ndim(hc) == 0 else hc


def who_hc_mm(ga_weeks: float, centile: float = 50.0) -> float:
    """WHO HC centile curve (Kiserud 2017) at ``ga_weeks`` (14-40); centile 2.5, 50 or 97.5."""
    t = float(ga_weeks)
    if not (WHO_WEEKS[0] <= t <= WHO_WEEKS[1]):
        raise ValueError(f"ga_weeks {t:g} is outside the WHO chart's 14-40 weeks")
    return float(who_hc_centile_mm(t * 7.0, centile))


def who_p50_inverse_weeks(hc_mm: float) -> float:
    """GA (weeks) at which the WHO P50 HC curve equals ``hc_mm`` (bisection; the curve rises on 14-40)."""
    lo, hi = WHO_WEEKS
    if not who_hc_mm(lo) <= hc_mm <= who_hc_mm(hi):
        raise ValueError(f"hc_mm {hc_mm:g} is outside the WHO P50 curve's range over 14-40 weeks")
    return invert_increasing(who_hc_mm, hc_mm, lo, hi)


WHO_P50_RANGE = ValidRange(
    "HC",
    round(who_hc_mm(14.0), 1),
    round(who_hc_mm(40.0), 1),
    "mm",
    "WHO P50 HC at 14 and 40 weeks, the chart's span (Kiserud 2017)",
)


def ga_who_hc_p50(hc_mm: float | None) -> Estimate:
    """HC-based GA: the age at which HC is the WHO median (Kiserud 2017, P50 curve inverted)."""
    method = "WHO 2017 HC median (inverted)"
    inputs = {"HC": hc_mm} if hc_mm is not None else {}
    reason = check_ranges(inputs, (WHO_P50_RANGE,))
    if reason is None and not who_hc_mm(14.0) <= hc_mm <= who_hc_mm(40.0):
        reason = f"HC {hc_mm:g} mm is outside the WHO P50 curve over 14-40 weeks"
    if reason:
        return Estimate(
            "ga_days", None, "days", method, KISERUD_2017, inputs, (WHO_P50_RANGE,), reason=reason
        )
    return Estimate(
        "ga_days", who_p50_inverse_weeks(hc_mm) * 7.0, "days", method, KISERUD_2017, inputs, (WHO_P50_RANGE,)
    )


def who_hc_band_mm(ga_days: float) -> tuple[float, float]:
    """(P2.5, P97.5) HC in mm at ``ga_days`` (WHO chart, 14-40 weeks)."""
    t = float(ga_days) / 7.0
    return who_hc_mm(t, 2.5), who_hc_mm(t, 97.5)


def hc_within_who_band(hc_mm: float, ga_days: float) -> bool | None:
    """True when ``hc_mm`` lies between the WHO P2.5 and P97.5 at ``ga_days``; None outside 14-40 weeks.

    This is FetalCLIP's GA validity criterion (arXiv 2502.14807).
    """
    t = float(ga_days) / 7.0
    if not (WHO_WEEKS[0] <= t <= WHO_WEEKS[1]):
        return None
    low, high = who_hc_band_mm(ga_days)
    return low <= hc_mm <= high
