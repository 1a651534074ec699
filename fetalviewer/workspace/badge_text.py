"""Text of the plane badge shown on the image (Qt-free so it can be tested and reused by the CLI).

Everything here is model output and says so. The GA line appears only on head (brain) frames of a
calibrated instance; with it, the WHO fetal growth chart HC band (2.5th..97.5th percentile, Kiserud et al.,
PLoS Med 2017) at the model's GA, i.e. the range of head circumferences the model's GA implies. A measured HC
outside that band means the model's GA and the measurement disagree (the FetalCLIP validity test).
"""

from __future__ import annotations

from dataclasses import dataclass

from fetalviewer.analysis.estimate import format_weeks_days
from fetalviewer.workspace.results import FrameReading


def model_tag(model_label: str = "FetalCLIP zero-shot") -> str:
    """The badge's last line, naming the model that produced the values ("AI · MobileFetalCLIP zero-shot")."""
    return f"AI · {model_label}"




@dataclass(frozen=True)
class BadgeText:
    title: str  # plane and probability
    lines: tuple[str, ...]  # sub-plane, GA, notes
    uncertain: bool
    approximate: bool  # the reading comes from the nearest analysed frame, not this one

    def plain(self) -> str:
        return "\n".join((self.title, *self.lines))


def badge_text(
    reading: FrameReading,
    threshold_0_1: float,
    display_names: dict[str, str],
    *,
    shown_frame: int | None = None,
    ga_unavailable_reason: str | None = None,
    user_label: str | None = None,
    model_label: str = "FetalCLIP zero-shot",
) -> BadgeText:
    """Badge content for ``reading``; ``shown_frame`` is the frame on screen when it differs."""
    from fetalviewer.model.readout import who_hc_percentile_mm

    name = display_names.get(reading.plane_key, reading.plane_key)
    uncertain = reading.is_uncertain(threshold_0_1)
    title = f"{name} {reading.plane_prob_0_1 * 100:.0f}%"
    if uncertain:
        title += " · uncertain"
    lines: list[str] = []
    if reading.plane_key == "brain" and reading.brain_key is not None:
        sub = display_names.get(reading.brain_key, reading.brain_key)
        lines.append(f"{sub} {reading.brain_prob_0_1 * 100:.0f}%")
    if reading.plane_key == "brain":
        if reading.ga_days is not None:
            lo = who_hc_percentile_mm(reading.ga_days, "p2.5")
            hi = who_hc_percentile_mm(reading.ga_days, "p97.5")
            lines.append(
                f"Model GA {format_weeks_days(reading.ga_days)} → WHO HC {lo:.0f}–{hi:.0f} mm (P2.5–97.5)"
            )
        elif ga_unavailable_reason:
            lines.append(f"Model GA unavailable: {ga_unavailable_reason}")
    if user_label is not None:
        lines.append(f"User label: {display_names.get(user_label, user_label)}")
    approximate = shown_frame is not None and shown_frame != reading.frame_index
    if approximate:
        lines.append(f"(frame {shown_frame + 1} not analysed yet; nearest: frame {reading.frame_index + 1})")
    lines.append(model_tag(model_label))
    return BadgeText(title, tuple(lines), uncertain, approximate)
