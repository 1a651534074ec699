"""FetalCLIP class names, display names and prompt sets (data files in ``resources/prompts/``).

The prompts are copied verbatim from the public FetalCLIP repository (Maani et al., "FetalCLIP: A
Visual-Language Foundation Model for Fetal Ultrasound Image Analysis", arXiv 2502.14807; code and
weights CC BY-NC 4.0). Class order is the file order of ``prompts_planes.json``.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from fetalviewer.paths import resources_dir

#: The 9 zero-shot plane classes, in the reference order (softmax over all 9).
PLANE_CLASSES: tuple[str, ...] = (
    "abdomen",
    "brain",
    "femur",
    "heart",
    "kidney",
    "lips_nose",
    "profile_patient",
    "spine",
    "cervix",
)

#: What the window and reports show for each class key.
PLANE_DISPLAY_NAMES: dict[str, str] = {
    "abdomen": "Abdomen (AC plane)",
    "brain": "Brain",
    "femur": "Femur",
    "heart": "Thorax / heart",
    "kidney": "Kidneys",
    "lips_nose": "Lips / nose",
    "profile_patient": "Profile",
    "spine": "Spine",
    "cervix": "Maternal cervix",
}

#: The 3 brain sub-plane classes, keys as in ``prompts_brain_subplanes.json``.
BRAIN_SUBPLANE_CLASSES: tuple[str, ...] = ("trans-thalamic", "trans-cerebellum", "trans-ventricular")

BRAIN_SUBPLANE_DISPLAY_NAMES: dict[str, str] = {
    "trans-thalamic": "Trans-thalamic",
    "trans-cerebellum": "Trans-cerebellar",
    "trans-ventricular": "Trans-ventricular",
}

#: The plane class whose frames get the head read-outs (brain sub-plane, gestational age).
HEAD_PLANE = "brain"

#: First GA of the reference prompt grid: index k maps to GA = GA_FIRST_DAY + k days.
GA_FIRST_DAY = 98


def prompts_dir() -> Path:
    return resources_dir() / "prompts"


def _read_json(name: str) -> dict:
    path = prompts_dir() / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(f"{path}: prompt file missing or unreadable ({exc})") from exc


@cache
def _class_prompts(name: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    data = _read_json(name)
    return tuple((key, tuple(texts)) for key, texts in data.items())


def plane_prompts() -> dict[str, tuple[str, ...]]:
    """Class key -> its 5 prompts, in file order (``prompts_planes.json``)."""
    return dict(_class_prompts("prompts_planes.json"))


def brain_subplane_prompts() -> dict[str, tuple[str, ...]]:
    """Sub-plane key -> its 5 prompts (``prompts_brain_subplanes.json``)."""
    return dict(_class_prompts("prompts_brain_subplanes.json"))


@cache
def _ga_spec() -> tuple[tuple[int, int], tuple[int, int], tuple[str, ...]]:
    data = _read_json("prompts_ga_templates.json")
    return tuple(data["weeks"]), tuple(data["days"]), tuple(data["templates"])


def ga_prompt_grid(pixel_spacing: str) -> list[list[str]]:
    """The reference GA prompts for one spacing string: 5 templates x 175 prompts.

    Index k over (weeks 14..38, day 0..6) in row-major order maps to GA = 98 + k days. The
    placeholders are filled with plain ``str.replace`` as in the reference evaluation.
    """
    if not isinstance(pixel_spacing, str):
        raise TypeError("pixel_spacing must be the formatted string, e.g. f'{spacing:.2f}'")
    (w0, w1), (d0, d1), templates = _ga_spec()
    grid = []
    for template in templates:
        prompts = []
        for weeks in range(w0, w1 + 1):
            for day in range(d0, d1 + 1):
                prompts.append(
                    template.replace("{weeks}", str(weeks))
                    .replace("{day}", str(day))
                    .replace("{pixel_spacing}", pixel_spacing)
                )
        grid.append(prompts)
    return grid


def ga_grid_size() -> int:
    (w0, w1), (d0, d1), _ = _ga_spec()
    return (w1 - w0 + 1) * (d1 - d0 + 1)


def prompts_digest(prompts: dict[str, tuple[str, ...]] | list[str]) -> str:
    """sha256 of a prompt set (keys and texts, in order): part of the text-embedding cache key."""
    payload = json.dumps(prompts, ensure_ascii=False, sort_keys=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()

