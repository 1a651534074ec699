"""The acceptance report of a validation job: JSON (everything) and PDF (reportlab), written atomically.

The PDF shows the verdict with its reason, what was tested (model and weights sha256, device and
precision, data set fingerprint, machine, date), every figure beside its published value and tolerance,
the plots, and the per-class / per-image details a reviewer needs; the JSON holds all of it plus the
per-image records.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from fetalviewer.atomic import write_bytes_atomic, write_text_atomic
from fetalviewer.validate.result import FAIL, PASS, AcceptanceResult, Plot

#: Lines of long per-image lists printed in the PDF (the JSON has them all).
PDF_LIST_LIMIT = 60
_VERDICT_COLOURS = {PASS: "#1e7b34", FAIL: "#a32020"}
_STATUS_BACKGROUNDS = {PASS: "#d4edda", FAIL: "#f8d7da"}


def report_paths(out_dir: str | Path, job: str) -> tuple[Path, Path]:
    out = Path(out_dir)
    return out / f"acceptance-{job}.json", out / f"acceptance-{job}.pdf"


def write_reports(result: AcceptanceResult, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``acceptance-<job>.json`` and ``.pdf`` into ``out_dir`` (each atomically); returns their paths.

    The PDF is rendered in memory first, so a rendering problem leaves neither file changed."""
    json_path, pdf_path = report_paths(out_dir, result.job)
    pdf = render_pdf_bytes(result)
    text = json.dumps(result.to_dict(), indent=2, default=_json_default)
    write_text_atomic(json_path, text)
    write_bytes_atomic(pdf_path, pdf)
    return json_path, pdf_path


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _fmt(value: Any, digits: int = 5) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.{digits}g}"
    return str(value)


def _styles():
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("base", fontName="Helvetica", fontSize=8.5, leading=10.5)
    return {
        "base": base,
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.8, leading=9.3),
        "small": ParagraphStyle("small", parent=base, fontSize=7, leading=8.5),
        "title": ParagraphStyle("title", parent=base, fontName="Helvetica-Bold", fontSize=14, leading=17),
        "h2": ParagraphStyle("h2", parent=base, fontName="Helvetica-Bold", fontSize=10.5, leading=13,
                             spaceBefore=8, spaceAfter=3, keepWithNext=1, textColor=colors.HexColor("#1f3a5f")),
    }  # fmt: skip


def _p(text: Any, style):
    from reportlab.platypus import Paragraph

    return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)


def _table(rows, widths, header: bool = True, extra_style=()):
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#b8c2cc")),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4ebf2")))
    table.setStyle(TableStyle(style + list(extra_style)))
    return table


def _nice_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw), default=10 * mag)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


def plot_drawing(plot: Plot, width: float = 480, height: float = 250):
    """A reportlab Drawing of ``plot``: axes with ticks, line series, point series, legend."""
    from reportlab.graphics.shapes import Circle, Drawing, Line, PolyLine, String
    from reportlab.lib import colors

    xs = [x for s in plot.series for x in s.xs]
    ys = [y for s in plot.series for y in s.ys]
    d = Drawing(width, height)
    left, bottom, right, top = 48, 30, width - 110, height - 10
    if not xs:
        d.add(String(left, height / 2, "no data to plot", fontName="Helvetica", fontSize=8))
        return d
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    pad_x, pad_y = (x1 - x0) * 0.03 or 1.0, (y1 - y0) * 0.05 or 1.0
    x0, x1, y0, y1 = x0 - pad_x, x1 + pad_x, y0 - pad_y, y1 + pad_y

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (right - left)

    def sy(y: float) -> float:
        return bottom + (y - y0) / (y1 - y0) * (top - bottom)

    grey = colors.HexColor("#555555")
    d.add(Line(left, bottom, right, bottom, strokeColor=grey, strokeWidth=0.6))
    d.add(Line(left, bottom, left, top, strokeColor=grey, strokeWidth=0.6))
    for t in _nice_ticks(x0, x1):
        d.add(Line(sx(t), bottom, sx(t), bottom - 3, strokeColor=grey, strokeWidth=0.5))
        d.add(String(sx(t), bottom - 11, f"{t:g}", fontName="Helvetica", fontSize=6.5, textAnchor="middle"))
    for t in _nice_ticks(y0, y1):
        d.add(Line(left - 3, sy(t), left, sy(t), strokeColor=grey, strokeWidth=0.5))
        d.add(String(left - 5, sy(t) - 2, f"{t:g}", fontName="Helvetica", fontSize=6.5, textAnchor="end"))
    d.add(String((left + right) / 2, 4, plot.x_label, fontName="Helvetica", fontSize=7.5, textAnchor="middle"))
    d.add(String(4, top + 2, plot.y_label, fontName="Helvetica", fontSize=7.5))
    for i, s in enumerate(plot.series):
        colour = colors.HexColor(s.color)
        if s.kind == "line" and len(s.xs) > 1:
            pts = [v for x, y in zip(s.xs, s.ys, strict=True) for v in (sx(x), sy(y))]
            d.add(PolyLine(pts, strokeColor=colour, strokeWidth=0.9))
        elif s.kind == "points":
            for x, y in zip(s.xs, s.ys, strict=True):
                d.add(Circle(sx(x), sy(y), 1.4, fillColor=colour, strokeColor=None))
        ly = top - 10 - 11 * i
        if s.kind == "line":
            d.add(Line(right + 8, ly + 2, right + 22, ly + 2, strokeColor=colour, strokeWidth=1.2))
        else:
            d.add(Circle(right + 15, ly + 2, 2, fillColor=colour, strokeColor=None))
        label = s.label + (f" ({len(s.xs)})" if s.kind == "points" else "")
        d.add(String(right + 26, ly, label, fontName="Helvetica", fontSize=6.5))
    return d


def _provenance_rows(result: AcceptanceResult, st) -> list:
    rows = []
    model = result.model or {}
    if "weights_sha256" in model:
        rows += [
            ("Model", f"{model.get('model_name') or model.get('family') or model.get('config_name')} "
                      f"(config {model.get('config_name')})"),
            ("Weights", f"{model.get('weights_path')} ({model.get('weights_size_bytes')} bytes)"),
            ("Weights sha256", model.get("weights_sha256")),
            ("Device / precision", f"{model.get('device')} / {model.get('dtype')}"),
        ]  # fmt: skip
    else:
        for name, m in model.items():
            text = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in m.items()) if isinstance(m, dict) else str(m)
            rows.append((name.replace("_", " "), text))
    ds = result.dataset
    rows += [
        ("Data set", f"{ds.get('name')} in {ds.get('folder')}" + (f", split {ds['split']}" if "split" in ds else "")),
        ("Data fingerprint", f"{ds.get('n_image_files')} image files; {Path(str(ds.get('csv'))).name} "
                             f"sha256 {ds.get('csv_sha256')}"),
        ("Machine", ", ".join(f"{k} {v}" for k, v in result.machine.items())),
        ("Date (UTC)", result.date_utc),
    ]  # fmt: skip
    return [[_p(k, st["cell"]), _p(v, st["cell"])] for k, v in rows]


def _details_story(result: AcceptanceResult, st) -> list:
    from reportlab.lib.units import mm

    story: list = []
    det = result.details
    for key, title in (("five_planes", "Five planes"), ("brain_subplanes", "Brain sub-planes")):
        fig = det.get(key)
        if not fig:
            continue
        classes, present = fig["classes"], fig["present_classes"]
        story.append(_p(f"{title}: confusion matrix (rows: true class, columns: predicted; {fig['n_images']} images)", st["h2"]))
        header = [_p("true \\ predicted", st["small"])] + [_p(c, st["small"]) for c in classes]
        rows = [header] + [
            [_p(c, st["small"])] + [_p(v, st["small"]) for v in fig["confusion_matrix"][i]]
            for i, c in enumerate(classes) if c in present
        ]  # fmt: skip
        width = 180 * mm
        story.append(_table(rows, [30 * mm] + [(width - 30 * mm) / len(classes)] * len(classes)))
        ci = fig.get("ci95", {})
        rows = [[_p(h, st["cell"]) for h in ("class", "F1", "95 % interval", "accuracy")]]
        for c in present:
            lo_hi = ci.get("per_class_f1", {}).get(c)
            rows.append([_p(c, st["cell"]), _p(_fmt(fig["per_class_f1"][c]), st["cell"]),
                         _p("-" if lo_hi is None else f"{lo_hi[0]:.4f} - {lo_hi[1]:.4f}", st["cell"]),
                         _p(_fmt(fig["per_class_accuracy"][c]), st["cell"])])  # fmt: skip
        macro = ci.get("macro_f1")
        rows.append([_p("macro (classes present)", st["cell"]), _p(_fmt(fig["macro_f1"]), st["cell"]),
                     _p("-" if macro is None else f"{macro[0]:.4f} - {macro[1]:.4f}", st["cell"]),
                     _p(_fmt(fig["accuracy"]), st["cell"])])  # fmt: skip
        story += [Spacer_(2), _table(rows, [50 * mm, 30 * mm, 50 * mm, 30 * mm]),
                  _p(f"Intervals: {ci.get('method', '')}", st["small"])]  # fmt: skip
    for key, title in (("agreement_five_planes", "Five planes"), ("agreement_brain_subplanes", "Brain sub-planes")):
        agree = det.get(key)
        if not agree:
            continue
        differ = agree["differing_images"]
        story.append(_p(f"{title}: {len(differ)} of {agree['n_images']} images differ from the published predictions", st["h2"]))
        if differ:
            rows = [[_p(h, st["cell"]) for h in ("image", "label", "this installation", "published")]]
            rows += [[_p(d[k], st["cell"]) for k in ("image", "label", "ours", "published")] for d in differ[:PDF_LIST_LIMIT]]
            story.append(_table(rows, [70 * mm, 35 * mm, 35 * mm, 35 * mm]))
            if len(differ) > PDF_LIST_LIMIT:
                story.append(_p(f"... and {len(differ) - PDF_LIST_LIMIT} more (all in the JSON report)", st["small"]))
    dots = det.get("dot_products_vs_published")
    if dots:
        story.append(_p("GA dot products against the published ones", st["h2"]))
        story.append(_p(
            f"{dots['n_compared']} images compared; max |difference| {_fmt(dots['max_abs_diff'])}, median "
            f"{_fmt(dots['median_abs_diff'])} (tolerance {dots['tolerance']}); "
            f"{len(dots['beyond_tolerance'])} images beyond tolerance"
            + (f"; {len(dots['not_in_published'])} images not in the published file" if dots["not_in_published"] else ""),
            st["base"]))  # fmt: skip
        beyond = dots["beyond_tolerance"]
        if beyond:
            rows = [[_p("image", st["cell"]), _p("max |difference|", st["cell"])]]
            rows += [[_p(b["image"], st["cell"]), _p(_fmt(b["max_abs_diff"]), st["cell"])] for b in beyond[:PDF_LIST_LIMIT]]
            story.append(_table(rows, [70 * mm, 40 * mm]))
    for key, title in (("default_head", "Default head model"), ("fetalclip_seg_head", "FetalCLIP seg head")):
        hc = det.get(key)
        if not hc:
            continue
        story.append(_p(f"{title}: refusals by reason", st["h2"]))
        if hc["refusals"]:
            rows = [[_p("reason", st["cell"]), _p("images", st["cell"])]]
            rows += [[_p(r, st["cell"]), _p(n, st["cell"])] for r, n in sorted(hc["refusals"].items(), key=lambda kv: -kv[1])]
            story.append(_table(rows, [150 * mm, 25 * mm]))
        else:
            story.append(_p("no image refused", st["base"]))
        ba = hc.get("bland_altman")
        if ba:
            story.append(_p(
                f"Bland-Altman: bias {ba['bias_mm']:+.2f} mm, SD {ba['sd_mm']:.2f} mm, 95 % limits of agreement "
                f"{ba['loa_low_mm']:+.2f} to {ba['loa_high_mm']:+.2f} mm; Dice mean {_fmt(hc['dice_mean'], 4)}, "
                f"median {_fmt(hc['dice_median'], 4)}, min {_fmt(hc['dice_min'], 4)}", st["base"]))  # fmt: skip
    return story


def Spacer_(height_mm: float):  # noqa: N802 - reads like the reportlab flowable it returns
    from reportlab.lib.units import mm
    from reportlab.platypus import Spacer

    return Spacer(1, height_mm * mm)


def build_story(result: AcceptanceResult) -> list:
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether

    st = _styles()
    verdict = result.verdict
    colour = colors.HexColor(_VERDICT_COLOURS.get(verdict, "#555555"))
    story: list = [_p(f"Acceptance test - {result.title}", st["title"]), Spacer_(2)]
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph

    white = ParagraphStyle("white", parent=st["title"], fontSize=12, textColor=colors.white)
    banner = _table([[Paragraph(escape(verdict), white), _p(result.verdict_reason, st["base"])]],
                    [32 * mm, 148 * mm], header=False,
                    extra_style=[("BACKGROUND", (0, 0), (0, 0), colour), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")])  # fmt: skip
    story += [banner, Spacer_(3), _p("What was tested", st["h2"])]
    story.append(_table(_provenance_rows(result, st), [35 * mm, 145 * mm], header=False))
    story.append(_p("Figures", st["h2"]))
    rows = [[_p(h, st["cell"]) for h in ("figure", "this installation", "published", "tolerance", "result", "note")]]
    status_style = []
    for i, f in enumerate(result.figures, 1):
        rows.append([_p(f.name, st["cell"]), _p(_fmt(f.value), st["cell"]), _p(_fmt(f.published), st["cell"]),
                     _p(f.tolerance or "-", st["cell"]), _p(f.status, st["cell"]), _p(f.note, st["small"])])  # fmt: skip
        if f.status in _STATUS_BACKGROUNDS:
            status_style.append(("BACKGROUND", (4, i), (4, i), colors.HexColor(_STATUS_BACKGROUNDS[f.status])))
    story.append(_table(rows, [52 * mm, 22 * mm, 18 * mm, 20 * mm, 14 * mm, 54 * mm], extra_style=status_style))
    if result.notes:
        story.append(_p("Notes", st["h2"]))
        story += [_p(f"- {n}", st["base"]) for n in result.notes]
    for plot in result.plots:
        story.append(KeepTogether([_p(plot.title, st["h2"]), plot_drawing(plot), _p(plot.caption, st["small"])]))
    story += _details_story(result, st)
    return story


def _footer(result: AcceptanceResult):
    from reportlab.lib.units import mm

    def draw(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(15 * mm, 8 * mm, f"FetalViewer acceptance test ({result.job}), {result.date_utc}: {result.verdict}")
        canvas.drawRightString(doc.pagesize[0] - 15 * mm, 8 * mm, f"page {doc.page}")
        canvas.restoreState()

    return draw


def render_pdf_bytes(result: AcceptanceResult) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=14 * mm, bottomMargin=16 * mm,
        title=f"FetalViewer acceptance test: {result.title}", author="FetalViewer",
    )  # fmt: skip
    doc.build(build_story(result), onFirstPage=_footer(result), onLaterPages=_footer(result))
    return buf.getvalue()
