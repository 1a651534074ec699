"""Small helpers shared by test modules (plain functions; fixtures live in conftest.py and model_fixtures.py)."""

from __future__ import annotations

from pathlib import Path


def write_png(path: Path, array) -> Path:
    """Write a uint8 array as a PNG, creating the folder."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path
