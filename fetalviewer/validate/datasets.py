"""The public data sets exactly as published, checked before anything runs.

FETAL_PLANES_DB (Burgos-Artizzu et al., "Evaluation of deep convolutional neural networks for automatic
classification of common maternal fetal ultrasound planes", Sci Rep 10:10200, 2020; Zenodo 3904280):
``FETAL_PLANES_DB_data.csv`` (``;``-separated; columns Image_name, Patient_num, Plane, Brain_plane,
Operator, US_Machine and ``Train `` with a trailing space) and ``Images/<Image_name>.png``.

HC18 (van den Heuvel et al., PLoS ONE 13(8):e0200412, 2018; Zenodo 1327317): ``training_set/NNN_HC.png``,
``training_set/NNN_HC_Annotation.png`` and ``training_set_pixel_size_and_HC.csv`` (filename, pixel
size(mm), head circumference (mm)).

Every problem (missing folder, CSV with other columns, a row naming an image that is not there) raises
:class:`DatasetError` naming the file, before any model runs and before anything is written.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fetalviewer.errors import FetalViewerError
from fetalviewer.model.hashing import sha256_uncached

PLANES_CSV = "FETAL_PLANES_DB_data.csv"
PLANES_IMAGES = "Images"
PLANES_COLUMNS = ("Image_name", "Patient_num", "Plane", "Brain_plane", "Operator", "US_Machine", "Train ")
#: FETAL_PLANES_DB plane label -> zero-shot class key ("Fetal thorax" is the class ``heart``); ``Other`` is excluded.
PLANE_LABELS = {
    "Fetal abdomen": "abdomen",
    "Fetal brain": "brain",
    "Fetal femur": "femur",
    "Fetal thorax": "heart",
    "Maternal cervix": "cervix",
}
EXCLUDED_PLANE = "Other"
#: Brain_plane label -> brain sub-plane key; rows with "Not A Brain" or "Other" are not scored.
BRAIN_LABELS = {
    "Trans-thalamic": "trans-thalamic",
    "Trans-cerebellum": "trans-cerebellum",
    "Trans-ventricular": "trans-ventricular",
}
BRAIN_EXCLUDED = ("Not A Brain", "Other")
SPLITS = ("all", "train", "test")

HC18_CSV = "training_set_pixel_size_and_HC.csv"
HC18_IMAGES = "training_set"
HC18_COLUMNS = ("filename", "pixel size(mm)", "head circumference (mm)")


class DatasetError(FetalViewerError):
    """The folder is not the data set as published (the message names the file and the problem)."""


@dataclass(frozen=True)
class Fingerprint:
    """What identifies the data a run used: the CSV's sha256 and the number of image files used."""

    csv_path: str
    csv_sha256: str
    n_files: int

    def to_dict(self) -> dict[str, Any]:
        return {"csv": self.csv_path, "csv_sha256": self.csv_sha256, "n_image_files": self.n_files}


def _read_rows(path: Path, delimiter: str, expected: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise DatasetError(f"{path}: missing (is the folder the data set as published?)")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise DatasetError(f"{path}: empty file")
            if tuple(header) != expected:
                raise DatasetError(
                    f"{path}: columns {header} are not the published ones {list(expected)}"
                )
            rows = []
            for line_no, row in enumerate(reader, 2):
                if not row:
                    continue
                if len(row) != len(expected):
                    raise DatasetError(f"{path}: line {line_no} has {len(row)} fields, expected {len(expected)}")
                rows.append(dict(zip(expected, row, strict=True)))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot be read as a CSV ({exc})") from exc
    if not rows:
        raise DatasetError(f"{path}: no data rows")
    return rows


@dataclass(frozen=True)
class PlanesImage:
    name: str  # Image_name (without .png)
    path: Path
    plane: str  # class key, e.g. "heart"
    brain_plane: str | None  # sub-plane key, or None when the row is not scored for sub-planes
    train: bool


@dataclass(frozen=True)
class PlanesDataset:
    folder: Path
    split: str
    images: tuple[PlanesImage, ...]  # rows of the split in CSV order, ``Other`` removed
    n_csv_rows: int
    n_all_rows_without_other: int  # rows of split "all" without Other (the published prediction count)
    fingerprint: Fingerprint

    @property
    def brain_images(self) -> tuple[PlanesImage, ...]:
        return tuple(im for im in self.images if im.brain_plane is not None)


def read_planes_db(folder: str | Path, split: str = "all") -> PlanesDataset:
    """The FETAL_PLANES_DB rows of ``split`` (all / train / test) with their image paths, checked."""
    if split not in SPLITS:
        raise DatasetError(f"split must be one of {SPLITS}, got {split!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder (expected the FETAL_PLANES_DB folder)")
    csv_path = folder / PLANES_CSV
    rows = _read_rows(csv_path, ";", PLANES_COLUMNS)
    images_dir = folder / PLANES_IMAGES
    if not images_dir.is_dir():
        raise DatasetError(f"{images_dir}: missing (expected Images/<Image_name>.png)")
    images, n_all = [], 0
    for line_no, row in enumerate(rows, 2):
        plane_label = row["Plane"].strip()
        if plane_label == EXCLUDED_PLANE:
            continue
        if plane_label not in PLANE_LABELS:
            raise DatasetError(f"{csv_path}: line {line_no}: unknown Plane {plane_label!r}")
        train_text = row["Train "].strip()
        if train_text not in ("0", "1"):
            raise DatasetError(f"{csv_path}: line {line_no}: 'Train ' must be 0 or 1, got {train_text!r}")
        n_all += 1
        train = train_text == "1"
        if (split == "train" and not train) or (split == "test" and train):
            continue
        brain_label = row["Brain_plane"].strip()
        if brain_label in BRAIN_EXCLUDED:
            brain = None
        elif brain_label in BRAIN_LABELS:
            brain = BRAIN_LABELS[brain_label]
        else:
            raise DatasetError(f"{csv_path}: line {line_no}: unknown Brain_plane {brain_label!r}")
        name = row["Image_name"].strip()
        path = images_dir / f"{name}.png"
        if not path.is_file():
            raise DatasetError(f"{path}: missing (listed in {csv_path.name} line {line_no})")
        images.append(PlanesImage(name, path, PLANE_LABELS[plane_label], brain, train))
    if not images:
        raise DatasetError(f"{csv_path}: no scored rows in split {split!r}")
    return PlanesDataset(
        folder,
        split,
        tuple(images),
        len(rows),
        n_all,
        Fingerprint(str(csv_path), sha256_uncached(csv_path), len(images)),
    )


@dataclass(frozen=True)
class HC18Image:
    filename: str
    path: Path
    annotation_path: Path
    pixel_size_mm: float
    hc_mm: float


@dataclass(frozen=True)
class HC18Dataset:
    folder: Path
    images: tuple[HC18Image, ...]  # CSV order
    fingerprint: Fingerprint


def read_hc18_training(folder: str | Path, need_annotations: bool = False) -> HC18Dataset:
    """Every row of the HC18 training CSV with its image (and annotation when asked), checked."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder (expected the HC18 folder)")
    csv_path = folder / HC18_CSV
    rows = _read_rows(csv_path, ",", HC18_COLUMNS)
    images_dir = folder / HC18_IMAGES
    if not images_dir.is_dir():
        raise DatasetError(f"{images_dir}: missing (expected training_set/NNN_HC.png)")
    images = []
    for line_no, row in enumerate(rows, 2):
        name = row["filename"].strip()
        try:
            pixel, hc = float(row["pixel size(mm)"]), float(row["head circumference (mm)"])
        except ValueError as exc:
            raise DatasetError(f"{csv_path}: line {line_no}: not a number ({exc})") from exc
        if not pixel > 0 or not hc > 0:
            raise DatasetError(f"{csv_path}: line {line_no}: pixel size and HC must be positive")
        path = images_dir / name
        if not path.is_file():
            raise DatasetError(f"{path}: missing (listed in {csv_path.name} line {line_no})")
        annotation = images_dir / name.replace(".png", "_Annotation.png")
        if need_annotations and not annotation.is_file():
            raise DatasetError(f"{annotation}: missing (the annotation of {name})")
        images.append(HC18Image(name, path, annotation, pixel, hc))
    return HC18Dataset(folder, tuple(images), Fingerprint(str(csv_path), sha256_uncached(csv_path), len(images)))
