"""Score automatic HC against published HC (e.g. held-out HC18 images run through ``fetalviewer analyze``).

Two numbers:

* mean absolute difference between the measured and the published HC (mm), over the images that got
  a measurement (refusals are counted and listed by reason, not hidden);
* the share of images whose Hadlock 1984 GA (from the *measured* HC) falls in the WHO band of their
  *true* HC: the true HC lies between the WHO P2.5 and P97.5 at that GA (Kiserud 2017) - FetalCLIP's
  GA validity criterion (arXiv 2502.14807), scored only for true HC in [100, 342] mm as there.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fetalviewer.analysis.dating import ga_hadlock1984
from fetalviewer.analysis.who_hc import hc_within_who_band

WHO_SCORED_HC_MM = (100.0, 342.0)


@dataclass(frozen=True)
class HcEvaluation:
    n_images: int
    n_measured: int
    mean_abs_diff_mm: float | None
    median_abs_diff_mm: float | None
    max_abs_diff_mm: float | None
    mean_diff_mm: float | None
    n_who_scored: int
    who_band_share: float | None
    refusals: dict[str, int] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    per_image: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = dict(vars(self))
        d["missing"] = list(self.missing)
        d["per_image"] = list(self.per_image)
        return d

    def summary(self) -> str:
        if self.n_measured == 0:
            return f"{self.n_images} images, none measured"
        lines = [
            f"{self.n_measured}/{self.n_images} images measured; HC |measured - published|: mean "
            f"{self.mean_abs_diff_mm:.2f} mm, median {self.median_abs_diff_mm:.2f} mm, max "
            f"{self.max_abs_diff_mm:.2f} mm (mean signed {self.mean_diff_mm:+.2f} mm)",
        ]
        if self.who_band_share is not None:
            lines.append(
                f"Hadlock 1984 GA in the WHO P2.5-P97.5 band of the true HC: {self.who_band_share:.1%} "
                f"of {self.n_who_scored} (true HC 100-342 mm)"
            )
        for reason, n in sorted(self.refusals.items(), key=lambda kv: -kv[1]):
            lines.append(f"not measured ({n}): {reason}")
        if self.missing:
            lines.append(f"no result for {len(self.missing)} image(s) listed in the truth file")
        return "\n".join(lines)


def read_hc18_truth(csv_path: str | Path) -> dict[str, float]:
    """``filename -> published HC mm`` from an HC18 ``*_pixel_size_and_HC.csv``-style file."""
    path = Path(csv_path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc})") from exc
    if not rows or len(rows[0]) < 3:
        raise ValueError(f"{path}: expected columns filename, pixel size (mm), head circumference (mm)")
    truth = {}
    for i, row in enumerate(rows[1:], 2):
        try:
            truth[row[0]] = float(row[2])
        except (IndexError, ValueError) as exc:
            raise ValueError(f"{path}: line {i} has no head circumference number") from exc
    return truth


def _key(source: str) -> str:
    return Path(str(source)).name


def evaluate_hc(frames: Iterable[Mapping[str, Any]], truth_hc_mm: Mapping[str, float]) -> HcEvaluation:
    """Compare the ``hc_mm`` of analyze frame records (matched by file name) with the published HC."""
    by_name: dict[str, Mapping[str, Any]] = {}
    for rec in frames:
        by_name.setdefault(_key(rec.get("source", "")), rec)
    diffs: list[float] = []
    refusals: Counter[str] = Counter()
    missing: list[str] = []
    per_image: list[dict[str, Any]] = []
    who_hits = who_n = 0
    for name, true_hc in truth_hc_mm.items():
        rec = by_name.get(name)
        if rec is None:
            missing.append(name)
            continue
        hc = rec.get("hc_mm")
        item: dict[str, Any] = {"image": name, "true_hc_mm": true_hc, "hc_mm": hc}
        if hc is None or not math.isfinite(float(hc)):
            reason = rec.get("biometry_unavailable_reason") or "no hc_mm in the record"
            refusals[str(reason).split(" (")[0]] += 1
            item["reason"] = reason
            per_image.append(item)
            continue
        diff = float(hc) - float(true_hc)
        diffs.append(diff)
        item["diff_mm"] = diff
        ga = ga_hadlock1984({"HC": float(hc)})
        if ga.ok and WHO_SCORED_HC_MM[0] <= true_hc <= WHO_SCORED_HC_MM[1]:
            inside = hc_within_who_band(true_hc, ga.value)
            if inside is not None:
                who_n += 1
                who_hits += int(inside)
                item["hadlock_ga_days"] = ga.value
                item["in_who_band"] = inside
        per_image.append(item)
    absd = sorted(abs(d) for d in diffs)
    n = len(absd)
    median = None if not n else (absd[n // 2] if n % 2 else 0.5 * (absd[n // 2 - 1] + absd[n // 2]))
    return HcEvaluation(
        n_images=len(truth_hc_mm),
        n_measured=n,
        mean_abs_diff_mm=sum(absd) / n if n else None,
        median_abs_diff_mm=median,
        max_abs_diff_mm=absd[-1] if n else None,
        mean_diff_mm=sum(diffs) / n if n else None,
        n_who_scored=who_n,
        who_band_share=who_hits / who_n if who_n else None,
        refusals=dict(refusals),
        missing=tuple(missing),
        per_image=tuple(per_image),
    )
