"""The measurement table: every labelled measurement of an exam -> one value per parameter, GA per
parameter, the combined Hadlock GA, EFW, and the discordance with the model's GA.

Rules (one place, shown to the user through :meth:`MeasurementTable.to_dict`):

* unlabelled measurements are not biometry and are ignored; uncalibrated ones are listed with their
  reason and never enter an equation;
* per parameter, the user's measurements (``manual`` and ``edited``) take precedence over
  ``automatic`` ones; the value is the mean of the measurements at that level (repeated calipers are
  averaged), and its source says which kinds it came from;
* BPD convention: automatic and edited BPDs come from the outer skull outline (outer-outer); manual BPD
  calipers follow ``manual_bpd_convention`` (default outer-inner, Hadlock's). Hadlock equations always
  get outer-inner (converted with Wong 2018, see :mod:`fetalviewer.analysis.biometry`); a mixed set is
  averaged in outer-inner;
* GA per parameter: BPD, HC, AC, FL by Hadlock 1984; HC also by INTERGROWTH-21st 2016 and the WHO P50
  curve; CRL by INTERGROWTH-21st 2014, Robinson 1975 and Hadlock 1992. OFD and TCD have no dating
  equation here. Combined GA: Hadlock 1984 with all of BPD/HC/AC/FL present (plus INTERGROWTH HC+FL when
  both exist). EFW: Hadlock 1985 when AC and FL exist, INTERGROWTH-21st when AC and HC exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fetalviewer.analysis.biometry import (
    DEFAULT_DISCORDANCE_DAYS,
    Discordance,
    bpd_outer_inner_from_outer_outer_mm,
    bpd_outer_outer_from_outer_inner_mm,
    ga_discordance,
)
from fetalviewer.analysis.dating import (
    ga_hadlock1984,
    ga_hadlock1984_single,
    ga_hadlock1992_crl,
    ga_intergrowth2014_crl,
    ga_intergrowth2016_hc,
    ga_intergrowth2016_hc_fl,
    ga_robinson1975_crl,
)
from fetalviewer.analysis.efw import efw_hadlock1985, efw_intergrowth
from fetalviewer.analysis.estimate import Estimate
from fetalviewer.analysis.measurement import Measurement
from fetalviewer.analysis.who_hc import ga_who_hc_p50

OUTER_OUTER = "outer-outer"
OUTER_INNER = "outer-inner"
PARAMETER_ORDER = ("BPD", "OFD", "HC", "AC", "FL", "TCD", "CRL")


@dataclass(frozen=True)
class ParameterValue:
    """One parameter of the table: its value, where it came from, and the GA it implies."""

    label: str
    value_mm: float
    source: str
    n_measurements: int
    measurement_ids: tuple[str, ...]
    ga: tuple[Estimate, ...]
    convention: str | None = None

    @property
    def value_for_hadlock_mm(self) -> float:
        """The value as Hadlock's equations expect it (BPD outer-inner; others unchanged)."""
        if self.label == "BPD" and self.convention == OUTER_OUTER:
            return bpd_outer_inner_from_outer_outer_mm(self.value_mm)
        return self.value_mm

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "value_mm": self.value_mm,
            "source": self.source,
            "n_measurements": self.n_measurements,
            "measurement_ids": list(self.measurement_ids),
            "convention": self.convention,
            "ga": [e.to_dict() for e in self.ga],
        }


@dataclass(frozen=True)
class ExcludedMeasurement:
    measurement_id: str
    label: str
    reason: str


def _source_name(sources: set[str]) -> str:
    return "+".join(s for s in ("manual", "edited", "automatic") if s in sources)


class MeasurementTable:
    """All measurements of an exam folded into one value per parameter, with GA, combined GA and EFW."""

    def __init__(
        self,
        measurements: Iterable[Measurement],
        *,
        manual_bpd_convention: str = OUTER_INNER,
        model_ga_days: float | None = None,
        discordance_threshold_days: float = DEFAULT_DISCORDANCE_DAYS,
    ) -> None:
        if manual_bpd_convention not in (OUTER_INNER, OUTER_OUTER):
            raise ValueError(f"manual_bpd_convention must be {OUTER_INNER!r} or {OUTER_OUTER!r}")
        self.manual_bpd_convention = manual_bpd_convention
        self.model_ga_days = model_ga_days
        self.discordance_threshold_days = float(discordance_threshold_days)
        self.measurements = list(measurements)
        for m in self.measurements:
            if not isinstance(m, Measurement):
                raise TypeError(f"measurements must hold Measurement objects, got {type(m).__name__}")
        self.excluded: list[ExcludedMeasurement] = []
        self.rows: dict[str, ParameterValue] = {}
        by_label: dict[str, list[Measurement]] = {}
        for m in self.measurements:
            if m.label is None:
                continue
            if m.value_mm is None:
                self.excluded.append(
                    ExcludedMeasurement(m.measurement_id, m.label, m.uncalibrated_reason or "")
                )
                continue
            by_label.setdefault(m.label, []).append(m)
        for label in PARAMETER_ORDER:
            if label in by_label:
                self.rows[label] = self._row(label, by_label[label])

    @classmethod
    def from_values(
        cls,
        values_mm: dict[str, float],
        *,
        bpd_convention: str = OUTER_INNER,
        model_ga_days: float | None = None,
        discordance_threshold_days: float = DEFAULT_DISCORDANCE_DAYS,
    ) -> MeasurementTable:
        """A table from typed-in values (source ``"entered"``), e.g. for ``fetalviewer measure ga``."""
        if bpd_convention not in (OUTER_INNER, OUTER_OUTER):
            raise ValueError(f"bpd_convention must be {OUTER_INNER!r} or {OUTER_OUTER!r}")
        table = cls([], model_ga_days=model_ga_days, discordance_threshold_days=discordance_threshold_days)
        for label in PARAMETER_ORDER:
            value = values_mm.get(label)
            if value is None:
                continue
            row = ParameterValue(
                label, float(value), "entered", 1, (), (), bpd_convention if label == "BPD" else None
            )
            table.rows[label] = ParameterValue(**{**vars(row), "ga": table._ga_for(row)})
        unknown = set(values_mm) - set(PARAMETER_ORDER)
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)}; expected {list(PARAMETER_ORDER)}")
        return table

    # -- rows ----------------------------------------------------------------------------------------
    def _bpd_convention(self, m: Measurement) -> str:
        return OUTER_OUTER if m.source.from_algorithm else self.manual_bpd_convention

    def _row(self, label: str, items: list[Measurement]) -> ParameterValue:
        user = [m for m in items if m.source in ("manual", "edited")]
        chosen = user or items
        convention = None
        if label == "BPD":
            conventions = {self._bpd_convention(m) for m in chosen}
            if len(conventions) == 1:
                convention = conventions.pop()
                values = [m.value_mm for m in chosen]
            else:
                convention = OUTER_INNER
                values = [
                    bpd_outer_inner_from_outer_outer_mm(m.value_mm)
                    if self._bpd_convention(m) == OUTER_OUTER
                    else m.value_mm
                    for m in chosen
                ]
        else:
            values = [m.value_mm for m in chosen]
        value = sum(values) / len(values)
        row = ParameterValue(
            label,
            value,
            _source_name({m.source for m in chosen}),
            len(chosen),
            tuple(m.measurement_id for m in chosen),
            (),
            convention,
        )
        return ParameterValue(**{**vars(row), "ga": self._ga_for(row)})

    @staticmethod
    def _ga_for(row: ParameterValue) -> tuple[Estimate, ...]:
        v = row.value_for_hadlock_mm
        if row.label in ("BPD", "AC", "FL"):
            return (ga_hadlock1984_single(row.label, v),)
        if row.label == "HC":
            return (ga_hadlock1984_single("HC", v), ga_intergrowth2016_hc(v), ga_who_hc_p50(v))
        if row.label == "CRL":
            return (ga_intergrowth2014_crl(v), ga_robinson1975_crl(v), ga_hadlock1992_crl(v))
        return ()

    def value_mm(self, label: str) -> float | None:
        row = self.rows.get(label)
        return None if row is None else row.value_mm

    def _hadlock_inputs(self) -> dict[str, float]:
        return {p: self.rows[p].value_for_hadlock_mm for p in ("BPD", "HC", "AC", "FL") if p in self.rows}

    # -- combined results ----------------------------------------------------------------------------
    @property
    def combined_ga(self) -> Estimate:
        """Hadlock 1984 GA from all of BPD, HC, AC, FL present (the equation with the most of them)."""
        return ga_hadlock1984(self._hadlock_inputs())

    @property
    def intergrowth_hc_fl(self) -> Estimate | None:
        if "HC" in self.rows and "FL" in self.rows:
            return ga_intergrowth2016_hc_fl(self.value_mm("HC"), self.value_mm("FL"))
        return None

    @property
    def efw(self) -> tuple[Estimate, ...]:
        """Hadlock 1985 (when AC and FL exist) and INTERGROWTH-21st (when AC and HC exist)."""
        out = []
        h = self._hadlock_inputs()
        if "AC" in h and "FL" in h:
            out.append(efw_hadlock1985(h["AC"], h["FL"], h.get("HC"), h.get("BPD")))
        if "AC" in self.rows and "HC" in self.rows:
            out.append(efw_intergrowth(self.value_mm("AC"), self.value_mm("HC")))
        return tuple(out)

    @property
    def discordance(self) -> Discordance:
        return ga_discordance(self.combined_ga, self.model_ga_days, self.discordance_threshold_days)

    def to_dict(self) -> dict[str, Any]:
        ig = self.intergrowth_hc_fl
        return {
            "parameters": [row.to_dict() for row in self.rows.values()],
            "excluded": [vars(e).copy() for e in self.excluded],
            "combined_ga": self.combined_ga.to_dict(),
            "intergrowth_hc_fl": None if ig is None else ig.to_dict(),
            "efw": [e.to_dict() for e in self.efw],
            "discordance": self.discordance.to_dict(),
            "manual_bpd_convention": self.manual_bpd_convention,
            "bpd_conversion": "Wong 2018: BPD_oo = 0.555934 + 1.027318 BPD_oi (mm)",
        }


__all__ = [
    "MeasurementTable",
    "ParameterValue",
    "ExcludedMeasurement",
    "OUTER_INNER",
    "OUTER_OUTER",
    "bpd_outer_outer_from_outer_inner_mm",
]
