"""The report's link to the clinical tables of :mod:`fetalviewer.analysis`: GA per measurement and per
parameter, combined GA, EFW and the model/formula discordance, all from
:class:`~fetalviewer.analysis.measurement_table.MeasurementTable` (one place for the rules: precedence of
the user's values, averaging, BPD caliper convention).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fetalviewer.analysis.estimate import format_plus_minus_weeks, format_weeks_days
from fetalviewer.report.content import ParameterRow, not_available


@dataclass(frozen=True)
class GaResult:
    """A GA in days with its method and citation, or ``text`` saying why it is not available."""

    ga_days: float | None
    text: str
    method: str
    citation: str


def ga_from_estimate(estimate) -> GaResult:
    """An analysis ``Estimate`` of GA as a report value (or its refusal as "not available")."""
    if estimate.value is None:
        return GaResult(
            None, not_available(f"{estimate.method}: {estimate.reason}"), estimate.method, estimate.citation
        )
    text = f"{format_weeks_days(estimate.value)} ({estimate.method})"
    if getattr(estimate, "plus_minus", None):
        text += format_plus_minus_weeks(estimate.plus_minus)
    return GaResult(float(estimate.value), text, estimate.method, estimate.citation)


def ga_for_measurement(m) -> GaResult:
    """The GA one measurement implies on its own (first dating equation of its parameter)."""
    from fetalviewer.analysis.measurement_table import MeasurementTable

    if m.label is None:
        return GaResult(None, not_available("the measurement has no biometry label"), "", "")
    if m.value_mm is None:
        return GaResult(None, not_available(m.uncalibrated_reason or "no calibrated value in mm"), "", "")
    row = MeasurementTable([m]).rows.get(m.label)
    if row is None or not row.ga:
        return GaResult(None, not_available(f"no gestational-age equation is used for {m.label}"), "", "")
    return ga_from_estimate(row.ga[0])


@dataclass(frozen=True)
class ExamBiometry:
    parameters: tuple[ParameterRow, ...]
    combined: GaResult
    efw_text: str
    discordance_text: str


def exam_biometry(measurements: Iterable, model_ga_days: float | None, threshold_days: float) -> ExamBiometry:
    """Parameter rows, combined Hadlock GA, EFW and discordance of an exam's measurements."""
    from fetalviewer.analysis.measurement_table import MeasurementTable

    table = MeasurementTable(
        list(measurements), model_ga_days=model_ga_days, discordance_threshold_days=threshold_days
    )
    rows = []
    for row in table.rows.values():
        value = f"{row.value_mm:.1f} mm" + (f" ({row.convention})" if row.convention else "")
        if row.n_measurements > 1:
            value += f", mean of {row.n_measurements}"
        gas = tuple(ga_from_estimate(e).text for e in row.ga) or (
            not_available(f"no gestational-age equation is used for {row.label}"),
        )
        rows.append(
            ParameterRow(row.label, value, row.value_mm, row.source, gas, tuple(e.citation for e in row.ga))
        )
    if table.rows:
        combined = ga_from_estimate(table.combined_ga)
    else:
        combined = GaResult(None, not_available("no calibrated biometry measurement"), "", "")
    efws = table.efw
    if efws:
        efw_text = "; ".join(
            f"{e.display_value()} ({e.method})"
            if e.value is not None
            else not_available(f"{e.method}: {e.reason}")
            for e in efws
        )
    else:
        missing = [p for p in ("AC", "FL") if p not in table.rows]
        efw_text = not_available(f"EFW needs AC with FL (Hadlock 1985) or HC; missing {', '.join(missing)}")
    disc = table.discordance
    disc_text = disc.display_text() if disc.flag is not None else not_available(disc.reason or "not checked")
    return ExamBiometry(tuple(rows), combined, efw_text, disc_text)
