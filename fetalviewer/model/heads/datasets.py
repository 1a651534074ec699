"""Labelled data folders for ``fetalviewer train-head`` and the fixed validation split.

Layouts (images: PNG, JPEG, BMP or TIFF; 8-bit gray or RGB):

* ``seg``: ``DIR/images/NAME.png`` with ``DIR/masks/NAME.png`` (same stem; non-zero = the structure).
  An HC18-style folder (``pixel_size_and_hc.csv`` + ``images/*_Annotation.png`` outlines) also works.
* ``plane``: one sub-folder per class, ``DIR/<class>/*.png``; the class names are the folder names
  (use the app's plane keys - abdomen, brain, femur, heart, kidney, lips_nose, profile_patient, spine,
  cervix - to have them shown with the app's display names).
* ``chd``: ``DIR/labels.csv`` with a header ``clip,label``; ``clip`` is a DICOM cine file or a folder of
  frame images (relative to DIR), ``label`` is ``normal``/``abnormal`` (or 0/1). Every clip should be a
  heart clip (the probe scores heart frames); up to ``max_frames`` frames are sampled uniformly.

Validation split: an item is held out for validation when ``int(sha256("fetalviewer-head-val-v1:" +
relative path)[:8], 16) % 100 < val_percent`` (at least one item, and one training item, remain).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fetalviewer.errors import FetalViewerError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VAL_SALT = "fetalviewer-head-val-v1:"


def is_validation(key: str, val_percent: int) -> bool:
    digest = hashlib.sha256((VAL_SALT + key).encode("utf-8")).hexdigest()
    return int(digest[:8], 16) % 100 < val_percent


def split_indices(keys: list[str], val_percent: int) -> tuple[list[int], list[int]]:
    """(train indices, validation indices) by the seeded hash; both non-empty when len(keys) >= 2."""
    if not 0 < val_percent < 100:
        raise ValueError(f"val_percent must be in 1..99, got {val_percent}")
    val = [i for i, k in enumerate(keys) if is_validation(k, val_percent)]
    train = [i for i in range(len(keys)) if i not in set(val)]
    if len(keys) >= 2 and not val:
        val, train = [train[-1]], train[:-1]
    if len(keys) >= 2 and not train:
        train, val = [val[0]], val[1:]
    return train, val


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: Path) -> np.ndarray:
    from fetalviewer.model.inputs import read_image_file

    return read_image_file(path)


@dataclass(frozen=True)
class SegSample:
    key: str
    image_path: Path
    mask_path: Path
    hc18_outline: bool = False

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        image = read_image(self.image_path)
        raw = read_image(self.mask_path)
        raw = raw if raw.ndim == 2 else raw.max(axis=2)
        if self.hc18_outline:
            from fetalviewer.model.heads.hc18_data import fill_outline

            mask = fill_outline(raw, source=self.mask_path)
        else:
            mask = (raw > 0).astype(np.uint8)
        if mask.shape != image.shape[:2]:
            raise FetalViewerError(f"{self.mask_path}: mask is {mask.shape}, image is {image.shape[:2]}")
        return image, mask


def seg_samples(folder: str | Path) -> list[SegSample]:
    folder = Path(folder)
    if (folder / "pixel_size_and_hc.csv").is_file() and (folder / "images").is_dir():
        out = []
        for p in _images_in(folder / "images"):
            if p.stem.endswith("_Annotation"):
                continue
            ann = p.with_name(p.stem + "_Annotation" + p.suffix)
            if ann.is_file():
                out.append(SegSample(f"images/{p.name}", p, ann, hc18_outline=True))
        if out:
            return out
    images, masks = folder / "images", folder / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise FetalViewerError(f"{folder}: a seg data folder needs images/ and masks/ sub-folders")
    out = []
    for p in _images_in(images):
        candidates = [m for m in _images_in(masks) if m.stem == p.stem]
        if not candidates:
            raise FetalViewerError(f"{p}: no mask with the same name in {masks}")
        out.append(SegSample(f"images/{p.name}", p, candidates[0]))
    if len(out) < 2:
        raise FetalViewerError(f"{folder}: at least 2 image/mask pairs are needed, found {len(out)}")
    return out


def plane_samples(folder: str | Path) -> tuple[list[tuple[str, Path, int]], tuple[str, ...]]:
    """``([(key, image path, class index)], class names)`` of a folder-per-class layout."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FetalViewerError(f"{folder}: not a folder")
    classes = tuple(sorted(p.name for p in folder.iterdir() if p.is_dir() and _images_in(p)))
    if len(classes) < 2:
        raise FetalViewerError(
            f"{folder}: a plane data folder needs at least 2 class sub-folders with images"
        )
    samples = [(f"{c}/{p.name}", p, i) for i, c in enumerate(classes) for p in _images_in(folder / c)]
    return samples, classes


def _label(value: str, source: str) -> int:
    v = value.strip().lower()
    if v in ("normal", "0"):
        return 0
    if v in ("abnormal", "1", "chd"):
        return 1
    raise FetalViewerError(f"{source}: label {value!r} is not normal/abnormal/0/1")


def chd_samples(folder: str | Path) -> list[tuple[str, Path, int]]:
    """``[(key, clip path, label)]`` from ``DIR/labels.csv``."""
    folder = Path(folder)
    csv_path = folder / "labels.csv"
    if not csv_path.is_file():
        raise FetalViewerError(f"{csv_path}: missing (a chd data folder needs labels.csv with clip,label)")
    out = []
    with open(csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"clip", "label"} <= set(reader.fieldnames):
            raise FetalViewerError(f"{csv_path}: header must name the columns clip,label")
        for n, row in enumerate(reader, start=2):
            clip = folder / row["clip"].strip()
            if not clip.exists():
                raise FetalViewerError(f"{csv_path} line {n}: clip {clip} does not exist")
            out.append((row["clip"].strip(), clip, _label(row["label"], f"{csv_path} line {n}")))
    labels = {label for _, _, label in out}
    if labels != {0, 1}:
        raise FetalViewerError(f"{csv_path}: both normal and abnormal clips are needed")
    return out


def uniform_indices(n_frames: int, max_frames: int) -> list[int]:
    """At most ``max_frames`` frame indices spread uniformly over ``n_frames`` (all when fewer)."""
    if n_frames <= max_frames:
        return list(range(n_frames))
    return sorted({int(round(v)) for v in np.linspace(0, n_frames - 1, max_frames)})


def clip_frames(clip: Path, max_frames: int) -> list[np.ndarray]:
    """Frames of a clip (a folder of images, or a DICOM file cropped to its 2D tissue region)."""
    if clip.is_dir():
        files = _images_in(clip)
        if not files:
            raise FetalViewerError(f"{clip}: clip folder holds no images")
        return [read_image(files[i]) for i in uniform_indices(len(files), max_frames)]
    from fetalviewer.dicom import open_instance
    from fetalviewer.model.inputs import crop_frame, tissue_crop_box

    cine = open_instance(clip)
    try:
        box = tissue_crop_box(tuple(cine.regions)) if cine.regions else None
        return [crop_frame(cine.frame(i), box) for i in uniform_indices(cine.n_frames, max_frames)]
    finally:
        cine.close()
