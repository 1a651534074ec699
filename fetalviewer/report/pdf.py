"""The PDF examination report (reportlab), rendered from a :class:`ReportContent`.

Layout: title and header block, key frames with their overlays burnt in, plane checklist, measurement
table with sources and GA equations, dating summary (combined GA, EFW, model GA and discordance), CHD
review flags, model card, impression and sign-off fields, references; every page carries the
decision-support statement and "page N of M". The de-identified variant prints "removed" for every
identifying header field and blacks out each frame outside its 2D imaging regions.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from xml.sax.saxutils import escape

from fetalviewer.report.content import ReportContent, is_not_available

_FONT, _FONT_BOLD = "Helvetica", "Helvetica-Bold"


def _fonts() -> tuple[str, str]:
    """Bitstream Vera (shipped inside reportlab) for wider Unicode coverage than Helvetica."""
    global _FONT, _FONT_BOLD
    import reportlab
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if _FONT == "Vera":
        return _FONT, _FONT_BOLD
    folder = os.path.join(os.path.dirname(reportlab.__file__), "fonts")
    try:
        pdfmetrics.registerFont(TTFont("Vera", os.path.join(folder, "Vera.ttf")))
        pdfmetrics.registerFont(TTFont("VeraBd", os.path.join(folder, "VeraBd.ttf")))
        _FONT, _FONT_BOLD = "Vera", "VeraBd"
    except Exception:  # fall back to the built-in Latin-1 fonts
        pass
    return _FONT, _FONT_BOLD


def _styles():
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle

    font, bold = _fonts()
    base = ParagraphStyle("base", fontName=font, fontSize=8.5, leading=10.5)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9),
        "na": ParagraphStyle("na", parent=base, fontSize=8, textColor=colors.HexColor("#8a4b00")),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.8, leading=9.3),
        "cellb": ParagraphStyle("cellb", parent=base, fontName=bold, fontSize=7.8, leading=9.3),
        "title": ParagraphStyle("title", parent=base, fontName=bold, fontSize=15, leading=18),
        "h2": ParagraphStyle(
            "h2", parent=base, fontName=bold, fontSize=10.5, leading=13, spaceBefore=8, spaceAfter=3, keepWithNext=1,
            textColor=colors.HexColor("#1f3a5f"),
        ),
        "caption": ParagraphStyle("caption", parent=base, fontSize=7.5, leading=9, textColor=colors.HexColor("#333333")),
        "banner": ParagraphStyle(
            "banner", parent=base, fontName=bold, fontSize=9, textColor=colors.white,
            backColor=colors.HexColor("#7a1f1f"), borderPadding=3,
        ),
    }  # fmt: skip


def _p(text: str, style):
    from reportlab.platypus import Paragraph

    return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)


def _v(text: str, styles):
    """A value paragraph; 'not available: ...' texts in the warning colour."""
    return _p(text, styles["na"] if is_not_available(text) else styles["cell"])


def _table(rows, widths, header: bool = True):
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#b8c2cc")),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4ebf2")))
    table.setStyle(TableStyle(style))
    return table


def _frame_image(rgb, width_pt: float):
    import cv2
    from reportlab.platypus import Image

    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("PNG encoding of a key frame failed")
    rows, cols = rgb.shape[:2]
    return Image(io.BytesIO(buf.tobytes()), width=width_pt, height=width_pt * rows / cols)


def _key_frame_cells(content: ReportContent, styles, width_pt: float, clean: bool):
    from fetalviewer.report.overlay import render_key_frame

    cells = []
    for kf in content.key_frames:
        try:
            rgb = render_key_frame(kf, clean=clean)
            cells.append([_frame_image(rgb, width_pt), _p(kf.title, styles["caption"])])
        except Exception as exc:  # one bad frame must not sink the report; say so in its place
            cells.append(
                [
                    _p(
                        f"not available: {kf.title}: frame could not be rendered ({exc.__cause__ or exc})",
                        styles["na"],
                    )
                ]
            )
    return cells


def build_story(content: ReportContent, clean_frames: bool | None = None) -> list:
    """The list of reportlab flowables of the report."""
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, Spacer, Table, TableStyle

    styles = _styles()
    clean = content.header.deidentified if clean_frames is None else clean_frames
    story: list = [_p(content.title, styles["title"]), Spacer(1, 2 * mm)]
    if content.header.deidentified:
        story += [_p("DE-IDENTIFIED EXPORT: identifying fields removed; images blacked out outside the "
                     "ultrasound image region (PS3.15 basic profile, clean pixel data)", styles["banner"]),
                  Spacer(1, 2 * mm)]  # fmt: skip
    fields = list(content.header.fields)
    half = (len(fields) + 1) // 2
    rows = []
    for i in range(half):
        row = []
        for title, value in (fields[i], fields[i + half] if i + half < len(fields) else ("", "")):
            row += [_p(title, styles["cellb"]), _v(value, styles)]
        rows.append(row)
    header_table = _table(rows, [26 * mm, 60 * mm, 26 * mm, 68 * mm], header=False)
    header_table.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#f5f7fa"))]))
    story += [header_table]

    story.append(_p("Key frames", styles["h2"]))
    cells = _key_frame_cells(content, styles, (86 if len(content.key_frames) > 1 else 120) * mm, clean)
    if not cells:
        story.append(_p("not available: no measured frame and no model best frame to show", styles["na"]))
    for i in range(0, len(cells), 2):
        pair = cells[i : i + 2] + ([[""]] if len(cells[i : i + 2]) == 1 else [])
        grid = Table(
            [[c[0] for c in pair], [c[1] if len(c) > 1 else "" for c in pair]],
            colWidths=[90 * mm] * 2 if len(cells) > 1 else [125 * mm, 55 * mm],
        )
        grid.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 1)]))
        story.append(KeepTogether([grid, Spacer(1, 2 * mm)]))

    refs: list[str] = []

    def cite(text: str, citation: str) -> str:
        if not citation:
            return text
        if citation not in refs:
            refs.append(citation)
        return f"{text} [{refs.index(citation) + 1}]"

    story.append(_p("Biometry", styles["h2"]))
    if content.parameters:
        rows = [[_p(t, styles["cellb"]) for t in ("Parameter", "Value", "Source", "GA by equation")]]
        for r in content.parameters:
            gas = [
                cite(g, c) for g, c in zip(r.ga_texts, r.citations + ("",) * len(r.ga_texts), strict=False)
            ]
            rows.append([_p(r.label, styles["cellb"]), _p(r.value_text, styles["cell"]), _p(r.source, styles["cell"]),
                         _v("\n".join(gas), styles)])  # fmt: skip
        story.append(_table(rows, [22 * mm, 40 * mm, 28 * mm, 90 * mm]))
    else:
        story.append(
            _p("not available: no calibrated, labelled measurement in the exam record", styles["na"])
        )
    dating = [
        ("Combined GA", content.combined_ga),
        ("Estimated fetal weight", content.efw),
        ("Model GA", content.model_ga),
        ("Model vs formula GA", content.discordance),
    ]
    story += [Spacer(1, 2 * mm), _table([[_p(t, styles["cellb"]), _v(v, styles)] for t, v in dating],
                                        [40 * mm, 140 * mm], header=False)]  # fmt: skip

    story.append(_p("Measurements (each caliper)", styles["h2"]))
    if content.measurements:
        rows = [
            [
                _p(t, styles["cellb"])
                for t in ("Parameter", "Value", "Source", "GA (this caliper)", "Calibration")
            ]
        ]
        for r in content.measurements:
            source = r.source + (f"; {r.automatic_value_text}" if r.automatic_value_text else "")
            rows.append([_p(r.label, styles["cellb"]), _v(r.value_text, styles), _p(source, styles["cell"]),
                         _v(cite(r.ga_text, r.ga_citation), styles), _v(r.calibration_text, styles)])  # fmt: skip
        story.append(_table(rows, [22 * mm, 34 * mm, 24 * mm, 54 * mm, 46 * mm]))
    else:
        story.append(_p("not available: no measurement in the exam record", styles["na"]))
    if content.sr_comparison:
        story.append(_p("Structured report from file (e.g. the scanner's own OB report)", styles["h2"]))
        rows = [
            [
                _p(t, styles["cellb"])
                for t in ("Parameter", "SR value", "FetalViewer value", "Difference", "GA in SR", "Source")
            ]
        ]
        for r in content.sr_comparison:
            app = "-" if r.app_value_mm is None else f"{r.app_value_mm:.1f} mm"
            diff = "-" if r.difference_mm is None else f"{r.difference_mm:+.1f} mm"
            rows.append([_p(r.label, styles["cellb"]), _p(f"{r.sr_value_mm:.1f} mm", styles["cell"]),
                         _p(app, styles["cell"]), _p(diff, styles["cell"]), _v(r.sr_ga_text, styles),
                         _p(r.source, styles["cell"])])  # fmt: skip
        story.append(_table(rows, [22 * mm, 22 * mm, 28 * mm, 22 * mm, 44 * mm, 42 * mm]))

    story.append(_p("Plane checklist", styles["h2"]))
    rows = [
        [_p(t, styles["cellb"]) for t in ("Plane", "Status", "Best frame", "Model prob.", "User corrections")]
    ]
    for c in content.checklist:
        plane = c.plane + ("" if c.required else " (optional)")
        rows.append([_p(plane, styles["cell"]), _v(c.status, styles), _p(c.best_frame, styles["cell"]),
                     _p(c.model_prob, styles["cell"]), _p(c.user_correction, styles["cell"])])  # fmt: skip
    story += [
        _table(rows, [34 * mm, 40 * mm, 40 * mm, 18 * mm, 48 * mm]),
        _p(content.checklist_note, styles["small"]),
    ]

    story.append(_p("CHD review flags", styles["h2"]))
    story += [_v(flag, styles) for flag in content.chd_flags]
    story.append(
        _p(
            "A CHD flag is a prompt for expert fetal echocardiography review, never a diagnosis.",
            styles["small"],
        )
    )

    story.append(_p("Model card", styles["h2"]))
    card = [[_p(t, styles["cellb"]), _v(v, styles)] for t, v in content.model_card.fields]
    card.append(
        [
            _p("Published evaluation", styles["cellb"]),
            _p("\n".join(content.model_card.evaluation), styles["cell"]),
        ]
    )
    story.append(_table(card, [32 * mm, 148 * mm], header=False))

    story.append(_p("Impression", styles["h2"]))
    impression = content.impression.strip() or "\n\n\n"
    story.append(_table([[_p(impression, styles["base"])]], [180 * mm], header=False))
    story.append(_p("Sign-off", styles["h2"]))
    sign = (
        content.sign_off
        if content.sign_off != "not signed"
        else "Name: ______________________   Signature: ______________________   Date: ____________"
    )
    story.append(_p(sign, styles["base"]))
    if content.problems:
        story.append(_p("Problems while loading", styles["h2"]))
        story += [_p(p, styles["small"]) for p in content.problems]
    if refs:
        story.append(_p("References", styles["h2"]))
        story += [_p(f"[{i}] {ref}", styles["small"]) for i, ref in enumerate(refs, start=1)]
    story += [Spacer(1, 3 * mm), _p(content.ai_statement, styles["banner"])]
    return story


def _numbered_canvas(content: ReportContent):
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    font, _ = _fonts()

    class NumberedCanvas(canvas.Canvas):
        """Defers page output so every footer can say "page N of M"."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self):  # noqa: N802 (reportlab API)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            for state in self._pages:
                self.__dict__.update(state)
                self._footer(len(self._pages))
                super().showPage()
            super().save()

        def _footer(self, total: int) -> None:
            width, _ = self._pagesize
            self.setFont(font, 7)
            self.setFillColor(colors.HexColor("#555555"))
            self.drawString(15 * mm, 9 * mm, "AI output is decision support, not a diagnosis.")
            self.drawRightString(width - 15 * mm, 9 * mm, f"Page {self._pageNumber} of {total}")
            self.drawString(
                15 * mm, 5.5 * mm, f"FetalViewer {content.app_version}, generated {content.generated_at_utc}"
            )

    return NumberedCanvas


def render_pdf_bytes(content: ReportContent, clean_frames: bool | None = None) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=14 * mm, bottomMargin=16 * mm,
        title=content.title, author="FetalViewer", subject="Fetal ultrasound examination report",
    )  # fmt: skip
    doc.build(build_story(content, clean_frames), canvasmaker=_numbered_canvas(content))
    return buf.getvalue()


def write_pdf(
    content: ReportContent, target: str | os.PathLike[str], clean_frames: bool | None = None
) -> Path:
    """Render the report and write it atomically to ``target``."""
    from fetalviewer.atomic import write_bytes_atomic

    return write_bytes_atomic(target, render_pdf_bytes(content, clean_frames))


def pdf_text(path: str | os.PathLike[str]) -> str:
    """Text of a PDF via poppler's ``pdftotext -layout`` (the read-back check); raises RuntimeError if
    the tool is missing or fails."""
    import shutil
    import subprocess

    tool = shutil.which("pdftotext")
    if tool is None:
        raise RuntimeError("pdftotext (poppler-utils) is not installed")
    proc = subprocess.run([tool, "-layout", str(path), "-"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{path}: pdftotext failed ({proc.stderr.strip()})")
    return proc.stdout
