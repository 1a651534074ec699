"""Published figures, per-image predictions and GA dot products to compare an installation with.

FetalCLIP (Maani et al., arXiv 2502.14807): the authors' per-image outputs ship in
``resources/published/fetalclip`` (see its NOTICE.md): five-plane macro F1 0.97275, brain sub-plane macro
F1 0.69293 (both computed by the authors from those predictions), GA valid-prediction rate 679/814 =
83.415 % (their GA dot products through the reference read-out). MobileFetalCLIP (Saeed, Maani, Yaqub,
arXiv 2603.05421): its README's zero-shot figures, HC18 validity 88.6 %, brain sub-plane F1 0.784 and
"Class F1" 0.886 = (5 x F1_5planes + 3 x F1_brain) / 8, which gives a five-plane F1 of 0.947 (derived,
+-0.002); no per-image outputs are published for it.

Tolerances allow for what legitimately differs between sites: the authors ran the plane read-outs under
fp16 autocast on a GPU, so an fp32 or CPU run flips a few images that lie on a decision boundary.
"""

from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fetalviewer.model.results import ModelInfo
from fetalviewer.paths import resources_dir
from fetalviewer.validate.datasets import DatasetError

FETALCLIP = "FetalCLIP"
MOBILEFETALCLIP = "MobileFetalCLIP"

FIVE_PLANES_PREDICTIONS = "test_five_planes_prediction.json"
BRAIN_PREDICTIONS = "test_brain_subplanes_prediction.json"
FIVE_PLANES_RESULTS = "test_five_planes_results.csv"
BRAIN_RESULTS = "test_brain_subplanes_results.csv"
GA_DOTS = "hc18_ga_dot_products.npz"


@dataclass(frozen=True)
class Reference:
    """A published figure and how far an installation may be from it and still pass."""

    value: float
    tolerance: float
    source: str
    direction: str = "both"  # "both": |x - value| <= tolerance; "min": x >= value - tolerance; "max": x <= value + tolerance

    def passes(self, x: float) -> bool:
        if self.direction == "min":
            return x >= self.value - self.tolerance
        if self.direction == "max":
            return x <= self.value + self.tolerance
        return abs(x - self.value) <= self.tolerance

    def describe(self) -> str:
        if self.direction == "min":
            return f">= {self.value - self.tolerance:.6g}"
        if self.direction == "max":
            return f"<= {self.value + self.tolerance:.6g}"
        return f"{self.value:g} \u00b1 {self.tolerance:g}"


#: Published zero-shot figures per model family (FETAL_PLANES_DB split "all", HC18 training set).
PUBLISHED_FIGURES: dict[str, dict[str, Reference]] = {
    FETALCLIP: {
        "planes_macro_f1": Reference(0.97275, 0.005, "FetalCLIP authors' results file (fp16, GPU)"),
        "brain_macro_f1": Reference(0.69293, 0.01, "FetalCLIP authors' results file (fp16, GPU)"),
        "ga_vpr_percent": Reference(83.415, 1.0, "679/814 from the authors' GA dot products"),
    },
    MOBILEFETALCLIP: {
        "planes_macro_f1": Reference(0.947, 0.007, "derived from the MobileFetalCLIP README (+-0.002)"),
        "brain_macro_f1": Reference(0.784, 0.01, "MobileFetalCLIP README"),
        "ga_vpr_percent": Reference(88.6, 1.0, "MobileFetalCLIP README"),
    },
}
#: Share of images whose prediction must equal the published one (fp32/CPU vs the authors' fp16 GPU run).
MIN_AGREEMENT = 0.99
#: Largest acceptable |dot product - published| (100 x cos units) per HC18 image.
GA_DOT_TOLERANCE = 0.05


def model_family(info: ModelInfo) -> str | None:
    """FetalCLIP / MobileFetalCLIP (the family the loader recognised from the checkpoint), else None."""
    return info.model_name if info.model_name in PUBLISHED_FIGURES else None


def default_published_dir() -> Path:
    return resources_dir() / "published" / "fetalclip"


@dataclass(frozen=True)
class PublishedPredictions:
    prediction: tuple[str, ...]
    label: tuple[str, ...]
    source: str


class PublishedData:
    """The per-image outputs in a folder laid out as published (``.json`` or ``.json.gz``; npz)."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_published_dir()
        if not self.folder.is_dir():
            raise DatasetError(f"{self.folder}: not a folder of published outputs")

    def _json(self, name: str) -> tuple[dict, Path] | None:
        for path in (self.folder / name, self.folder / f"{name}.gz"):
            if path.is_file():
                try:
                    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
                    return json.loads(raw.decode("utf-8")), path
                except (OSError, ValueError) as exc:
                    raise DatasetError(f"{path}: not the published predictions JSON ({exc})") from exc
        return None

    def predictions(self, task: str) -> PublishedPredictions | None:
        """``task`` "planes" or "brain"; None when the folder has no such file."""
        found = self._json(FIVE_PLANES_PREDICTIONS if task == "planes" else BRAIN_PREDICTIONS)
        if found is None:
            return None
        data, path = found
        try:
            pred, label = tuple(map(str, data["prediction"])), tuple(map(str, data["label"]))
        except (KeyError, TypeError) as exc:
            raise DatasetError(f"{path}: needs lists 'prediction' and 'label'") from exc
        if len(pred) != len(label):
            raise DatasetError(f"{path}: 'prediction' and 'label' differ in length")
        return PublishedPredictions(pred, label, str(path))

    def results_f1(self, task: str) -> float | None:
        """The macro F1 in the authors' results CSV (column ``f1``), or None."""
        path = self.folder / (FIVE_PLANES_RESULTS if task == "planes" else BRAIN_RESULTS)
        if not path.is_file():
            return None
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                return float(next(csv.DictReader(fh))["f1"])
        except (OSError, StopIteration, KeyError, ValueError) as exc:
            raise DatasetError(f"{path}: not the published results CSV ({exc})") from exc

    def ga_dots(self) -> dict[str, np.ndarray] | None:
        """filename -> [175] published GA dot products, or None."""
        path = self.folder / GA_DOTS
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                names, dots = data["filename"], np.asarray(data["dot_products"], dtype=np.float64)
        except (OSError, ValueError, KeyError) as exc:
            raise DatasetError(f"{path}: not the published GA dot products ({exc})") from exc
        if dots.ndim != 2 or len(names) != len(dots):
            raise DatasetError(f"{path}: 'dot_products' must be [images, GA values] matching 'filename'")
        return {str(n): dots[i] for i, n in enumerate(names)}
