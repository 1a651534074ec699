"""The model side of the validation jobs: load the engine once, embed image files in batches.

The read-outs themselves are the project's (:mod:`fetalviewer.model.readout`, the engine's class and GA
text embeddings), so a validation checks the code path every other command uses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fetalviewer.validate.cache import ImageCache
from fetalviewer.validate.datasets import DatasetError
from fetalviewer.validate.published import FETALCLIP, PublishedData, model_family

#: Version of what the per-image cache records hold; bump when their meaning changes.
CACHE_FORMAT = 1


def open_engine(
    model: str = "auto",
    weights: str | None = None,
    config: str | None = None,
    device: str = "auto",
    precision: str = "auto",
    progress: Callable[[str, float], None] | None = None,
):
    """Load the chosen model (``auto`` | ``fetalclip`` | ``mobilefetalclip``; the installed weights unless
    ``weights`` is given) strictly through the project's one loader and return the zero-shot engine."""
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.model.engine import FetalClipEngine
    from fetalviewer.model.selection import load_model

    try:
        loaded = load_model(model, weights, config, device=device, precision=precision, progress=progress)
    except ValueError as exc:  # a device that is not there, an unknown choice
        raise FetalViewerError(str(exc)) from exc
    return FetalClipEngine(loaded)


def model_dict(engine) -> dict[str, Any]:
    info = engine.info
    return {**info.to_dict(), "family": model_family(info)}


def cache_key(job: str, engine, **extra: Any) -> dict[str, Any]:
    """What must match for cached per-image results to be reused."""
    info = engine.info
    return {
        "job": job,
        "format": CACHE_FORMAT,
        "weights_sha256": info.weights_sha256,
        "config": info.config_name,
        "device": info.device,
        "precision": info.dtype,
        **extra,
    }


def published_outputs(family: str | None, published_dir: str | Path | None) -> PublishedData | None:
    """The per-image published outputs to compare with: ``published_dir`` when given, else the bundled
    FetalCLIP ones for a FetalCLIP model, else none."""
    if published_dir is not None:
        return PublishedData(published_dir)
    return PublishedData() if family == FETALCLIP else None


def image_cache(job: str, engine, csv_sha256: str, out_dir: str | Path) -> ImageCache:
    """The resumable per-image cache of ``job`` for this model and dataset under ``out_dir``."""
    key = cache_key(job, engine, csv_sha256=csv_sha256)
    return ImageCache(Path(out_dir) / "cache" / f"{job}.jsonl", key)


def read_images(paths: Sequence[Path]) -> list[np.ndarray]:
    """uint8 arrays with the reference's mode handling; an unreadable file is a DatasetError naming it."""
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.model.inputs import read_image_file

    out = []
    for path in paths:
        try:
            out.append(read_image_file(path))
        except FetalViewerError as exc:
            raise DatasetError(str(exc)) from exc
    return out


def embed(engine, images: Sequence[np.ndarray]) -> np.ndarray:
    """[N, D] L2-normalised image embeddings (the engine's preprocessing and encoder)."""
    return engine.embed_images(list(images))
