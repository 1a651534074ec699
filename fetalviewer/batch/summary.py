"""``summary.html``: the archive at a glance, one self-contained page (inline SVG, no scripts, no network).

Plots: plane coverage across studies (share of studies whose best frame of each plane reaches the
checklist threshold), completeness histogram (studies by number of required planes found), the
within-study GA discordance of the model (each head frame's GA minus its study's median model GA), and
throughput (frames/s over the run; one line per run in the folder). Only counts and distributions: no
names, no patient or study identifiers.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from fetalviewer.model.planes import PLANE_CLASSES, PLANE_DISPLAY_NAMES
from fetalviewer.workspace.findings import STANDARD_PLANES

_W, _H = 640, 260
_M = {"l": 100, "r": 16, "t": 18, "b": 74}
_BAR = "#2f6fb0"


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    y_label: str,
    y_max: float | None = None,
    counts: bool = True,
) -> str:
    """An SVG bar chart (values >= 0) with the value written above each bar; ``counts``: whole-number ticks."""
    n = max(1, len(values))
    top = y_max if y_max is not None else nice_top(max([*values, 0.0]) * 1.1)
    if counts and y_max is None:
        top = max(4.0, math.ceil(top / 4) * 4.0)
    pw, ph = _W - _M["l"] - _M["r"], _H - _M["t"] - _M["b"]
    slot = pw / n
    parts = [f'<svg viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img">']
    for k in range(5):
        v = top * k / 4
        y = _M["t"] + ph - ph * k / 4
        parts.append(f'<line x1="{_M["l"]}" x2="{_W - _M["r"]}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(
            f'<text x="{_M["l"] - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{_fmt(v)}</text>'
        )
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = 0 if top <= 0 else ph * float(value) / top
        x = _M["l"] + i * slot + slot * 0.15
        y = _M["t"] + ph - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{_BAR}"/>'
        )
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{y - 4:.1f}" class="val" text-anchor="middle">{_fmt(value)}</text>'
        )
        lx, ly = x + slot * 0.35, _M["t"] + ph + 14
        parts.append(
            f'<text x="{lx:.1f}" y="{ly:.1f}" class="tick" text-anchor="end" '
            f'transform="rotate(-30 {lx:.1f} {ly:.1f})">{_esc(label)}</text>'
        )
    parts.append(
        f'<text x="14" y="{_M["t"] + ph / 2:.1f}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 14 {_M["t"] + ph / 2:.1f})">{_esc(y_label)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]], x_label: str, y_label: str
) -> str:
    """An SVG line chart of (name, xs, ys) series."""
    xs_all = [x for _, xs, _ in series for x in xs] or [0.0, 1.0]
    ys_all = [y for _, _, ys in series for y in ys] or [0.0, 1.0]
    x0, x1 = 0.0, nice_top(max(xs_all))
    y1 = nice_top(max(ys_all) * 1.1)
    pw, ph = _W - _M["l"] - _M["r"], _H - _M["t"] - _M["b"] + 30
    colours = ["#2f6fb0", "#d9822b", "#3a9a5b", "#b03a5b", "#6b5bb0"]

    def px(x: float, y: float) -> tuple[float, float]:
        return _M["l"] + pw * (x - x0) / (x1 - x0), _M["t"] + ph - ph * y / y1

    parts = [f'<svg viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img">']
    for k in range(5):
        _, y = px(0, y1 * k / 4)
        parts.append(f'<line x1="{_M["l"]}" x2="{_W - _M["r"]}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(
            f'<text x="{_M["l"] - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{_fmt(y1 * k / 4)}</text>'
        )
    for k in range(5):
        x, _ = px(x1 * k / 4, 0)
        parts.append(
            f'<text x="{x:.1f}" y="{_M["t"] + ph + 16:.1f}" class="tick" text-anchor="middle">{_fmt(x1 * k / 4)}</text>'
        )
    for i, (name, xs, ys) in enumerate(series):
        colour = colours[i % len(colours)]
        points = " ".join("{:.1f},{:.1f}".format(*px(x, y)) for x, y in zip(xs, ys, strict=True))
        if points:
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.append(
            f'<text x="{_W - _M["r"] - 4}" y="{_M["t"] + 14 + 14 * i}" class="tick" text-anchor="end" '
            f'fill="{colour}">{_esc(name)}</text>'
        )
    parts.append(
        f'<text x="{_M["l"] + pw / 2:.1f}" y="{_H - 6}" class="axis" text-anchor="middle">{_esc(x_label)}</text>'
    )
    parts.append(
        f'<text x="14" y="{_M["t"] + ph / 2:.1f}" class="axis" text-anchor="middle" '
        f'transform="rotate(-90 14 {_M["t"] + ph / 2:.1f})">{_esc(y_label)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5, 4, 5, 10 x 10^k at or above ``value`` (axis top with round quarter ticks)."""
    if value <= 0:
        return 1.0
    scale = 10.0 ** math.floor(math.log10(value))
    for m in (1.0, 2.0, 2.5, 4.0, 5.0, 10.0):
        if m * scale >= value - 1e-12:
            return m * scale
    return 10.0 * scale


def _fmt(v: float) -> str:
    v = float(v)
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"


def histogram(values: np.ndarray, edges: Sequence[float]) -> tuple[list[str], list[int]]:
    counts, _ = np.histogram(values, bins=np.asarray(edges, dtype=float))
    labels = [f"{_fmt(a)}..{_fmt(b)}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    return labels, [int(c) for c in counts]


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d2733;max-width:1340px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:16px;margin:0 0 6px} p.note{color:#5a6470;font-size:13px;margin:4px 0}
.grid2{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:18px}
.card{border:1px solid #d5dbe2;border-radius:6px;padding:12px 14px;background:#fff}
table{border-collapse:collapse;font-size:13px} td,th{padding:3px 10px;border-bottom:1px solid #e3e7ec;text-align:right}
th:first-child,td:first-child{text-align:left}
svg .grid{stroke:#e3e7ec} svg .tick{font-size:11px;fill:#5a6470} svg .val{font-size:11px;fill:#1d2733}
svg .axis{font-size:12px;fill:#1d2733} p.empty{color:#8a939c;font-size:20px;text-align:center;padding:80px 0}
"""


def render(
    studies: dict[str, list[Any]],
    discordance_days: np.ndarray,
    n_frames: int,
    n_problems: int,
    problem_kinds: dict[str, int],
    runs: Sequence[dict[str, Any]],
    threshold_0_1: float,
    model_line: str,
) -> str:
    """The page as HTML text (see the module docstring)."""
    n_studies = len(studies["study_instance_uid"])
    coverage = [100.0 * sum(studies[f"found_{k}"]) / n_studies if n_studies else 0.0 for k in PLANE_CLASSES]
    required = len(STANDARD_PLANES)
    found_counts = [studies["n_required_found"].count(k) for k in range(required + 1)]
    disc = np.asarray(discordance_days, dtype=float)
    lim = max(7.0, float(np.ceil(np.abs(disc).max() / 7.0) * 7.0)) if disc.size else 7.0
    lim = min(lim, 70.0)
    edges = list(np.linspace(-lim, lim, int(2 * lim / 7) * 2 + 1)) if lim > 7 else list(range(-7, 8, 2))
    clipped = np.clip(disc, -lim, lim)
    d_labels, d_counts = histogram(clipped, edges)
    series = [
        (
            f"run {i + 1}: {r.get('engine')} x{r.get('workers')}, {r.get('frames_per_s', 0):.1f} frames/s",
            [s[0] for s in r.get("samples", [])],
            [s[1] for s in r.get("samples", [])],
        )
        for i, r in enumerate(runs)
    ]
    run_rows = "".join(
        f"<tr><td>{i + 1}</td><td>{_esc(r.get('started_utc', ''))}</td><td>{_esc(r.get('engine'))}</td>"
        f"<td>{_esc(r.get('workers'))}</td><td>{_esc(r.get('device'))}</td><td>{r.get('files', 0)}</td>"
        f"<td>{r.get('frames', 0)}</td><td>{r.get('seconds', 0):.1f}</td><td>{r.get('frames_per_s', 0):.2f}</td>"
        f"<td>{_esc(r.get('status', ''))}</td></tr>"
        for i, r in enumerate(runs)
    )
    kinds = ", ".join(f"{_esc(k)}: {v}" for k, v in sorted(problem_kinds.items())) or "none"
    ga_text = (
        f"{disc.size} head frames with a model GA; median |discordance| {np.median(np.abs(disc)):.1f} days, "
        f"{100.0 * np.mean(np.abs(disc) > 7):.0f}% beyond 7 days"
        if disc.size
        else "No head frame with a model GA (needs brain frames with a calibrated pixel size)"
    )
    plane_labels = [PLANE_DISPLAY_NAMES[k] for k in PLANE_CLASSES]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>FetalViewer batch summary</title>
<style>{_CSS}</style></head><body>
<h1>Batch analysis summary</h1>
<p class="note">{n_studies} studies, {n_frames} analysed frames, {n_problems} files with problems ({kinds}).
Model: {_esc(model_line)}. Model output (FetalCLIP zero-shot, research use, not a diagnosis).</p>
<div class="grid2">
<div class="card"><h2>Plane coverage across the archive</h2>
<p class="note">Share of studies whose best frame of the plane reaches the checklist threshold ({threshold_0_1:.0%}).</p>
{bar_chart(plane_labels, coverage, "% of studies", 100.0, counts=False)}</div>
<div class="card"><h2>Exam completeness</h2>
<p class="note">Studies by number of the {required} required standard planes found.</p>
{bar_chart([str(k) for k in range(required + 1)], found_counts, "studies")}</div>
<div class="card"><h2>GA discordance within studies</h2>
<p class="note">Each head frame's model GA minus its study's median model GA (days; clipped at &plusmn;{_fmt(lim)}).
{_esc(ga_text)}. Formula GA from biometry is not part of the batch run.</p>
{bar_chart(d_labels, d_counts, "head frames") if disc.size else '<p class="empty">no data</p>'}</div>
<div class="card"><h2>Throughput</h2>
<p class="note">Frames analysed per second over each run's elapsed time (model loading excluded).</p>
{line_chart(series, "seconds since the first result", "frames/s")}</div>
</div>
<div class="card" style="margin-top:18px"><h2>Runs</h2>
<table><tr><th>run</th><th>started (UTC)</th><th>engine</th><th>workers</th><th>device</th><th>files</th>
<th>frames</th><th>seconds</th><th>frames/s</th><th>status</th></tr>{run_rows}</table></div>
</body></html>
"""
