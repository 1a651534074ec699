"""PDF report: written atomically, read back with pdftotext, de-identified variant carries no identifiers."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from test_report_content import sample_exam

from fetalviewer.report.build import build_report_content
from fetalviewer.report.content import FrameOverlay
from fetalviewer.report.overlay import render_key_frame, render_overlay
from fetalviewer.report.pdf import pdf_text, write_pdf

needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")


@needs_poppler
def test_pdf_sections_read_back(tmp_path):
    loop, record, predictions, info = sample_exam()
    content = build_report_content([loop], record, predictions, model_info=info)
    path = write_pdf(content, tmp_path / "report.pdf")
    assert path.read_bytes().startswith(b"%PDF")
    text = " ".join(pdf_text(path).split())
    for expected in (
        "Fetal ultrasound examination report", "11-05-25-142825", "Key frames", "Measurements",
        "Hadlock 1984 (HC)", "Plane checklist", "found (user label)", "CHD review flags",
        "not available: no trained CHD head", "Model card", "0.9727", "abab", "Impression",
        "biometry consistent with dates", "Sign-off", "References", "Radiology 1984",
        "AI output is decision support, not a diagnosis",
    ):  # fmt: skip
        assert expected in text, expected
    pages = [(int(a), int(b)) for a, b in re.findall(r"Page (\d+) of (\d+)", text)]
    total = pages[0][1]
    assert total >= 2 and pages == [(i, total) for i in range(1, total + 1)]
    assert text.count("AI output is decision support, not a diagnosis") >= total + 1  # every footer + box
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


@needs_poppler
def test_deidentified_pdf_has_no_identifiers(tmp_path):
    loop, record, predictions, info = sample_exam()
    content = build_report_content([loop], record, predictions, model_info=info, deidentified=True)
    text = pdf_text(write_pdf(content, tmp_path / "deid.pdf"))
    assert "DE-IDENTIFIED EXPORT" in text
    for secret in ("11-05-25-142825", "2011-05-25", "Philips Healthcare"):
        assert secret not in text


def test_overlay_burns_in_and_cleans():
    loop, record, _, _ = sample_exam(with_model=False)
    frame = loop.frame(0)
    overlay = FrameOverlay(
        "Brain (user)", (((400, 200), (500, 220), (480, 330)),), tuple(record.measurements)
    )
    plain = render_overlay(frame, FrameOverlay(), loop.regions)
    drawn = render_overlay(frame, overlay, loop.regions)
    assert plain.shape == (600, 800, 3) and np.array_equal(plain, loop.frame(0))
    changed = np.any(drawn != plain, axis=2)
    assert changed[300, 200:700].any()  # the HC ellipse crosses row 300
    assert changed[:15, :60].any()  # the plane label box at the top left
    cleaned = render_overlay(frame, FrameOverlay(), loop.regions, clean=True)
    assert plain[:60].max() > 0 and cleaned[:60].max() == 0  # banner above the 2D region removed
    with pytest.raises(ValueError, match="no 2D imaging region"):
        render_overlay(frame, overlay, (), clean=True)


def test_render_key_frame_uses_instance_frame():
    loop, record, predictions, info = sample_exam()
    content = build_report_content([loop], record, predictions, model_info=info)
    rgb = render_key_frame(content.key_frames[0])
    assert rgb.dtype == np.uint8 and rgb.shape == (loop.rows, loop.columns, 3)
