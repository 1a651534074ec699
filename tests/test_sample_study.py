"""The bundled sample study: opens, is one calibrated study, keeps HC18 truth and attribution, validates."""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fetalviewer.dicom import calibration_for_points, load_study, open_instance, single_tissue_region
from fetalviewer.paths import sample_study_dir

SAMPLE = sample_study_dir()
HC18 = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "hc18"


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((SAMPLE / "sample_truth.json").read_text())


def _dicom_files() -> list[Path]:
    return sorted(SAMPLE.glob("*.dcm"))


def test_sample_is_one_small_study(truth):
    study = load_study([SAMPLE])
    assert not study.problems
    assert len(study.instances) == 4 == len(truth["instances"])
    assert study.study_uids == [truth["study_instance_uid"]]
    assert sum(p.stat().st_size for p in _dicom_files()) < 8_000_000
    stills = [i for i in study.instances if i.n_frames == 1]
    cines = [i for i in study.instances if i.n_frames > 1]
    assert len(stills) == 3 and len(cines) == 1
    for loop in stills:
        assert loop.sop_class_uid == "1.2.840.10008.5.1.4.1.1.6.1"
        assert loop.photometric == "MONOCHROME2" and not loop.is_color
    cine = cines[0]
    assert cine.sop_class_uid == "1.2.840.10008.5.1.4.1.1.3.1"
    assert cine.n_frames == 120 and cine.timing.source == "FrameTime"
    assert cine.timing.fps == pytest.approx(30.0, abs=0.01)
    assert cine.transfer_syntax_uid == "1.2.840.10008.1.2.4.50"
    assert int(cine.dataset().FrameIncrementPointer) == 0x00181063
    for loop in study.instances:
        assert loop.header.patient_name == "FVTEST^ALBA"
        assert "CC BY 4.0" in loop.header.image_comments
        assert loop.header.burned_in_annotation == "YES"


def test_calibration_matches_published_pixel_size(truth):
    for entry in truth["instances"]:
        loop = open_instance(SAMPLE / entry["file"])
        region = single_tissue_region(loop.regions)
        assert region is not None and len(loop.regions) == 1
        assert region.units_name == "cm"
        assert region.mm_per_px_x == pytest.approx(entry["pixel_size_mm"], rel=1e-9)
        assert region.mm_per_px_y == pytest.approx(entry["pixel_size_mm"], rel=1e-9)
        cx, cy = (region.x0 + region.x1) / 2, (region.y0 + region.y1) / 2
        assert calibration_for_points(loop.regions, [(cx, cy)]).calibration is not None


def test_banner_text_is_burned_in_outside_the_tissue_region():
    for path in _dicom_files():
        loop = open_instance(path)
        region = loop.regions[0]
        frame = loop.frame(0)
        banner = frame[: region.y0]
        assert region.y0 > 0 and (banner > 128).sum() > 200  # white text pixels above the region
        assert frame[region.y0 : region.y1 + 1, region.x0 : region.x1 + 1].mean() > 20  # image inside


def test_cine_moves_smoothly(truth):
    cine_entry = next(e for e in truth["instances"] if "frames" in e)
    loop = open_instance(SAMPLE / cine_entry["file"])
    frames = [loop.frame(i).astype(np.float32) for i in (0, 1, 30)]
    step = np.abs(frames[1] - frames[0]).mean()
    far = np.abs(frames[2] - frames[0]).mean()
    assert 0 < step < far  # neighbouring frames are closer than frames a second apart
    zooms = [f["zoom"] for f in cine_entry["frames"]]
    assert len(zooms) == 120 and max(zooms) - min(zooms) > 0.03
    assert cine_entry["frames"][30]["apparent_hc_mm"] == pytest.approx(cine_entry["hc_mm"] * zooms[30])


def _ramanujan_perimeter(a: float, b: float) -> float:
    """Ramanujan's second approximation of an ellipse perimeter (Ramanujan 1914)."""
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))


def test_truth_sidecar_is_consistent(truth):
    for entry in truth["instances"]:
        if "frames" in entry:
            continue
        a, b = entry["annotation_ellipse"]["semi_axes_px"]
        hc_from_ellipse = _ramanujan_perimeter(a, b) * entry["pixel_size_mm"]
        assert hc_from_ellipse == pytest.approx(entry["hc_mm"], abs=0.1)
        loop = open_instance(SAMPLE / entry["file"])
        cx, cy = entry["annotation_ellipse"]["center_px"]
        assert loop.regions[0].contains(cx, cy)


@pytest.mark.skipif(not (HC18 / "pixel_size_and_hc.csv").is_file(), reason="shared HC18 data not present")
def test_truth_matches_the_published_table(truth):
    with open(HC18 / "pixel_size_and_hc.csv", newline="") as fh:
        table = {r[0]: (float(r[1]), float(r[2])) for r in list(csv.reader(fh))[1:]}
    for entry in truth["instances"]:
        pixel_mm, hc_mm = table[entry["hc18_image"]]
        assert entry["hc_mm"] == hc_mm
        assert entry.get("published_pixel_size_mm", entry["pixel_size_mm"]) == pixel_mm


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools dciodvfy is not installed")
@pytest.mark.parametrize("name", [p.name for p in _dicom_files()])
def test_files_validate_with_dciodvfy(name):
    result = subprocess.run(["dciodvfy", str(SAMPLE / name)], capture_output=True, text=True)
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]
    assert not errors, errors


@pytest.mark.slow
@pytest.mark.skipif(not (HC18 / "pixel_size_and_hc.csv").is_file(), reason="shared HC18 data not present")
def test_generator_is_deterministic(tmp_path):
    import sys

    tool = Path(__file__).resolve().parent.parent / "tools" / "make_sample_study.py"
    subprocess.run([sys.executable, str(tool), "--out", str(tmp_path)], check=True, capture_output=True)
    for bundled in [SAMPLE / "sample_truth.json", SAMPLE / "NOTICE.md"]:
        assert (tmp_path / bundled.name).read_bytes() == bundled.read_bytes(), bundled.name
    for bundled in _dicom_files():
        _assert_same_sample_file(tmp_path / bundled.name, bundled)


def _assert_same_sample_file(made: Path, bundled: Path) -> None:
    """Every attribute equal and every pixel below the burned-in banner equal; the banner's text is drawn by
    OpenCV's anti-aliased ``putText``, whose edge pixels differ between OpenCV releases, so there the same
    text must stand in the same place (its ink overlaps), not the same grey levels."""
    import pydicom

    a, b = pydicom.dcmread(made), pydicom.dcmread(bundled)
    pixels_a, pixels_b = a.pixel_array, b.pixel_array
    assert pixels_a.shape == pixels_b.shape, bundled.name
    a.PixelData = b.PixelData = b""
    if "LossyImageCompressionRatio" in b:  # follows the JPEG size, hence the banner's edge pixels
        ratio_a, ratio_b = float(a.LossyImageCompressionRatio), float(b.LossyImageCompressionRatio)
        assert abs(ratio_a - ratio_b) <= 0.02 * ratio_b, bundled.name
        a.LossyImageCompressionRatio = b.LossyImageCompressionRatio
    assert a == b, f"{bundled.name}: attributes differ"
    truth = json.loads((SAMPLE / "sample_truth.json").read_text())
    banner_rows = int(truth["instances"][0]["tissue_region_px"][1])
    body_a, body_b = pixels_a[..., banner_rows:, :], pixels_b[..., banner_rows:, :]
    if b.file_meta.TransferSyntaxUID.is_compressed:
        # Lossy JPEG: releases of the encoder (libjpeg-turbo in Pillow) round differently; the image must be
        # the same within coding noise.
        diff = np.abs(body_a.astype(int) - body_b.astype(int))
        assert diff.mean() <= 1.0 and diff.max() <= 32, (bundled.name, diff.mean(), diff.max())
    else:
        assert np.array_equal(body_a, body_b), bundled.name
    # The banner: burned-in text starting at the left edge in both, of a comparable amount of ink (glyph
    # metrics themselves differ between OpenCV releases).
    ink_a, ink_b = pixels_a[..., :banner_rows, :] > 127, pixels_b[..., :banner_rows, :] > 127
    assert ink_a.any() and ink_b.any(), bundled.name
    for ink in (ink_a, ink_b):
        assert np.nonzero(ink.reshape(-1, ink.shape[-1]).any(axis=0))[0].min() <= 16, bundled.name
    assert 0.5 <= ink_a.sum() / ink_b.sum() <= 2.0, bundled.name
