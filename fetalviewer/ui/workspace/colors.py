"""One colour per plane class (workspace timeline, badge, findings), readable on the dark theme."""

from __future__ import annotations

PLANE_COLORS: dict[str, str] = {
    "abdomen": "#f59f00",
    "brain": "#4dabf7",
    "femur": "#e8e8e8",
    "heart": "#ff6b6b",
    "kidney": "#b197fc",
    "lips_nose": "#f783ac",
    "profile_patient": "#63e6be",
    "spine": "#ffd43b",
    "cervix": "#a9e34b",
}
FALLBACK_COLOR = "#adb5bd"
#: Marks everything the model produced (badge frame, panel headings), distinct from measurements.
MODEL_OUTPUT_COLOR = "#c084fc"


def plane_color(key: str) -> str:
    return PLANE_COLORS.get(key, FALLBACK_COLOR)


def display_name(key: str) -> str:
    """Display name of a plane key (the model engine's names; the key itself if unknown)."""
    from fetalviewer.model.planes import BRAIN_SUBPLANE_DISPLAY_NAMES, PLANE_DISPLAY_NAMES

    return PLANE_DISPLAY_NAMES.get(key) or BRAIN_SUBPLANE_DISPLAY_NAMES.get(key) or key
