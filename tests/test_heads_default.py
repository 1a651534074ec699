"""The default head model: pixel mapping, HC18 split and masks, loading checks, and the shipped model."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from fetalviewer.errors import WeightsMismatch, WeightsNotFound
from fetalviewer.model.heads.letterbox import map_to_frame, square_mapping, to_model_input

# The reference data lie beside the checkout (as in CI), read-only.
HC18 = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data" / "hc18"
needs_hc18 = pytest.mark.skipif(
    not (HC18 / "pixel_size_and_hc.csv").is_file(), reason="shared HC18 data absent"
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_square_mapping_pads_symmetrically_and_maps_back():
    frame = np.zeros((60, 100), np.uint8)
    frame[20:40, 30:50] = 200
    mapping = square_mapping(frame.shape, 50)
    assert (mapping.pad_top, mapping.pad_left, mapping.padded_width) == (20, 0, 100)
    small = to_model_input(frame, mapping, "area")
    assert small.shape == (50, 50)
    # the bright square (x 30..50, y 20..40) lands at x 15..25, y (20 + 20) / 2 .. (20 + 40) / 2 = 20..30
    assert small[20:30, 15:25].min() == 200 and small[:20].max() == 0 and small[30:].max() == 0
    back = map_to_frame(np.ones((50, 50), np.float32), mapping, frame.shape)
    assert back.shape == frame.shape and np.all(back == 1.0)
    ramp = np.tile(np.arange(100, dtype=np.float32), (100, 1))  # padded-square ramp in x
    down = to_model_input(ramp[20:80], mapping, "area").astype(np.float32)
    # away from the zero padding (first/last row) and the ramp's own ends, bilinear resampling is exact
    np.testing.assert_allclose(
        map_to_frame(down, mapping, frame.shape)[1:-1, 2:-2], ramp[21:79, 2:-2], atol=1e-3
    )


def test_square_mapping_with_crop_box_pastes_back_into_the_frame():
    mapping = square_mapping((100, 120), 32, box=(10, 20, 73, 59))  # 64 x 40 crop
    assert (mapping.crop_x0, mapping.crop_y0, mapping.crop_width, mapping.crop_height) == (10, 20, 64, 40)
    back = map_to_frame(np.ones((32, 32), np.float32), mapping, (100, 120))
    assert back[20:60, 10:74].min() == 1.0 and back.sum() == 64 * 40
    with pytest.raises(ValueError, match="box"):
        square_mapping((100, 120), 32, box=(10, 20, 130, 59))


def test_hc18_split_is_fixed_grouped_and_about_a_fifth():
    from fetalviewer.model.heads.hc18_data import is_held_out, subject_id

    assert subject_id("010_2HC.png") == "010"
    names = [f"{i:03d}_HC.png" for i in range(0, 800, 2)]
    held = [n for n in names if is_held_out(n)]
    assert 0.12 < len(held) / len(names) < 0.28
    for name in names:
        assert is_held_out(name) == is_held_out(name.replace("_HC", "_2HC")) == is_held_out(name)
    with pytest.raises(ValueError, match="HC18 number"):
        subject_id("scan.png")


def test_filled_outline_measures_like_the_outline():
    import cv2

    from fetalviewer.analysis.geometry import fit_ellipse_to_mask, fit_ellipse_to_points, rc_to_points
    from fetalviewer.model.heads.hc18_data import fill_outline

    outline = np.zeros((300, 400), np.uint8)
    cv2.ellipse(outline, (200, 150), (120, 80), 25, 0, 360, 255, 1)
    outline[150, 75:85] = 0  # a gap, like two HC18 files have
    reference = fit_ellipse_to_points(rc_to_points(np.argwhere(outline > 0)), min_angular_coverage=0.5)
    mask = fill_outline(outline)
    measured = fit_ellipse_to_mask(mask)
    assert mask[150, 200] == 1 and mask[0, 0] == 0
    assert measured.ellipse.perimeter_px == pytest.approx(reference.ellipse.perimeter_px, rel=2e-3)


def _write_model(folder, spec_kwargs=None, input_size=32, seed=0):
    import torch
    from safetensors.torch import save_file

    from fetalviewer.model.heads.unet import UNetSpec, build_unet

    spec = UNetSpec(**(spec_kwargs or {"base_channels": 4, "depth": 2}))
    torch.manual_seed(seed)
    module = build_unet(spec)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(folder / "m.safetensors"))
    meta = {
        "name": "test-unet",
        "version": "0",
        "weights_file": "m.safetensors",
        "weights_sha256": hashlib.sha256((folder / "m.safetensors").read_bytes()).hexdigest(),
        "architecture": spec.to_dict(),
        "preprocessing": {"input_size": input_size, "normalisation": {"mean": 0.5, "std": 0.25}},
        "output": {"threshold_prob": 0.5},
    }
    (folder / "m.json").write_text(json.dumps(meta))
    return folder / "m.json"


def test_segment_returns_original_pixels_and_honours_the_region(tmp_path):
    from types import SimpleNamespace

    from fetalviewer.model.heads.default_head import DefaultHeadModel

    model = DefaultHeadModel(_write_model(tmp_path / "model"))
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (70, 90), dtype=np.uint8)
    seg = model.segment(frame)
    assert seg.mask.shape == (70, 90) and seg.probability.shape == (70, 90)
    assert seg.crop_box == (0, 0, 89, 69) and seg.model_name == "test-unet" and len(seg.weights_sha256) == 64
    assert 0.0 <= seg.confidence_0_1 <= 1.0
    rgb = np.repeat(frame[..., None], 3, axis=2)
    np.testing.assert_array_equal(model.segment(rgb).probability, seg.probability)

    region = SimpleNamespace(x0=20, y0=10, x1=59, y1=49)
    cropped = model.segment(frame, region=region)
    assert cropped.crop_box == (20, 10, 59, 49)
    outside = np.ones((70, 90), bool)
    outside[10:50, 20:60] = False
    assert cropped.probability[outside].max() == 0.0 and cropped.probability[~outside].min() > 0.0
    with pytest.raises(ValueError, match="too small"):
        model.segment(frame, region=SimpleNamespace(x0=0, y0=0, x1=5, y1=5))
    with pytest.raises(TypeError, match="uint8"):
        model.segment(frame.astype(np.float32))


def test_changed_or_missing_weights_are_refused(tmp_path):
    from fetalviewer.model.heads.default_head import DefaultHeadModel

    meta_path = _write_model(tmp_path / "model")
    weights = tmp_path / "model" / "m.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsMismatch, match="m.safetensors.*does not match"):
        DefaultHeadModel(meta_path)
    weights.unlink()
    with pytest.raises(WeightsNotFound, match="m.safetensors"):
        DefaultHeadModel(meta_path)
    with pytest.raises(WeightsNotFound, match="nothing.json"):
        DefaultHeadModel(tmp_path / "nothing.json")
    other = _write_model(tmp_path / "other", {"base_channels": 4, "depth": 2})
    meta = json.loads(other.read_text())
    meta["architecture"]["base_channels"] = 8  # weights no longer fit the described network
    other.write_text(json.dumps(meta))
    with pytest.raises(WeightsMismatch, match="do not fit"):
        DefaultHeadModel(other)


@needs_hc18
def test_shipped_model_segments_held_out_heads():
    """The shipped model on two held-out HC18 images (never trained on), measured like the app."""
    from fetalviewer.analysis.geometry import fit_ellipse_to_mask
    from fetalviewer.model.heads.default_head import load_default_head
    from fetalviewer.model.heads.hc18_data import read_hc18

    model = load_default_head()
    assert model.meta["training"]["split"]["heldout_percent"] == 20
    held = [item for item in read_hc18(HC18) if item.held_out][:2]
    assert len(held) == 2
    for item in held:
        seg = model.segment(item.load_image())
        truth = item.load_mask()
        dice = 2 * np.logical_and(seg.mask, truth).sum() / (seg.mask.sum() + truth.sum())
        assert dice > 0.9, item.filename
        fit = fit_ellipse_to_mask(seg.mask)
        if fit.ok:  # a head cut off by the image border is refused, as in the app
            assert abs(fit.ellipse.perimeter_px * item.pixel_size_mm - item.hc_mm) < 10.0, item.filename


def test_hc18_style_folder_is_a_seg_data_folder(tmp_path):
    import cv2

    from fetalviewer.model.heads.datasets import seg_samples

    (tmp_path / "images").mkdir()
    for i in range(3):
        image = np.full((60, 80), 30, np.uint8)
        outline = np.zeros((60, 80), np.uint8)
        cv2.ellipse(outline, (40, 30), (20 + i, 12), 10, 0, 360, 255, 1)
        cv2.imwrite(str(tmp_path / "images" / f"00{i}_HC.png"), image)
        cv2.imwrite(str(tmp_path / "images" / f"00{i}_HC_Annotation.png"), outline)
    (tmp_path / "pixel_size_and_hc.csv").write_text("filename,pixel size(mm),head circumference (mm)\n")
    samples = seg_samples(tmp_path)
    assert [s.key for s in samples] == ["images/000_HC.png", "images/001_HC.png", "images/002_HC.png"]
    image, mask = samples[0].load()
    assert image.shape == mask.shape == (60, 80)
    assert mask[30, 40] == 1 and mask[0, 0] == 0  # filled, not just the outline


def test_auto_selection_falls_back_to_the_default_head_without_fetalclip():
    from fetalviewer.model.heads.select import segment_head_auto

    seg, note = segment_head_auto(np.zeros((120, 160), np.uint8))
    assert seg.source == "default-head" and seg.mask.shape == (120, 160)
    assert "default head model" in note and "no FetalCLIP weights loaded" in note
