"""FetalCLIP read-outs, prompts, tokenizer and preprocessing against the reference facts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fetalviewer.model import readout
from fetalviewer.model.planes import (
    BRAIN_SUBPLANE_CLASSES,
    PLANE_CLASSES,
    PLANE_DISPLAY_NAMES,
    brain_subplane_prompts,
    ga_prompt_grid,
    plane_prompts,
)
from fetalviewer.model.preprocess import pad_to_square, preprocess_batch, preprocess_image
from fetalviewer.model.results import FramePrediction

SHARED = Path(__file__).parent / "data" / "fetalclip"  # published FetalCLIP read-out data (see NOTICE.md)

pytest_plugins = ["tests.model_fixtures"]


def test_ga_readout_on_published_hc18_dot_products_gives_679_of_814():
    data = np.load(f"{SHARED}/hc18_ga_dot_products.npz")
    hc = data["true_hc_mm"]
    scored = (hc >= readout.VPR_SCORED_HC_RANGE_MM[0]) & (hc <= readout.VPR_SCORED_HC_RANGE_MM[1])
    idx = readout.ga_index_from_dots(data["dot_products"])
    valid = readout.hc_consistent_with_ga(hc, [readout.ga_days_from_index(i) for i in idx])
    assert int(scored.sum()) == 814
    assert int(valid[scored].sum()) == 679
    assert round(100 * valid[scored].mean(), 3) == 83.415
    # the read-out matters: argmax scores lower, as the reference notes
    arg_valid = readout.hc_consistent_with_ga(hc, 98 + data["dot_products"].argmax(axis=1))
    assert round(100 * arg_valid[scored].mean(), 2) == 80.34


def test_ga_index_is_median_of_sorted_top15():
    dots = np.zeros(175)
    top = [3, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 174]
    dots[top] = np.linspace(10, 24, 15)[::-1]  # index 3 largest, 174 smallest of the top 15
    assert readout.ga_index_from_dots(dots) == 70
    assert readout.ga_days_from_index(70) == 168
    with pytest.raises(ValueError, match="at least 15"):
        readout.ga_index_from_dots(np.zeros(10))


def test_zero_shot_probs_are_softmax_of_100_cos():
    rng = np.random.default_rng(1)
    cls = readout.l2_normalize(rng.normal(size=(9, 16)))
    img = rng.normal(size=(2, 16)) * 5  # un-normalised on purpose
    probs = readout.zero_shot_probs(img, cls)
    cos = readout.l2_normalize(img) @ cls.T
    expected = np.exp(100 * cos) / np.exp(100 * cos).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-10)
    assert np.allclose(probs.sum(axis=1), 1)


def test_class_embeddings_mean_of_normalised_then_renormalised():
    emb = np.array([[[3.0, 0.0], [0.0, 1.0]]])  # normalising first gives equal weights
    np.testing.assert_allclose(readout.class_embeddings(emb), [[np.sqrt(0.5), np.sqrt(0.5)]])


def test_who_hc_percentiles_and_spacing_string():
    # WHO chart: median HC at 20 weeks is about 175 mm, at 30 weeks about 280 mm
    assert 170 < readout.who_hc_percentile_mm(140) < 180
    assert 275 < readout.who_hc_percentile_mm(210) < 290
    assert readout.who_hc_percentile_mm(140, "p2.5") < readout.who_hc_percentile_mm(140, "p97.5")
    assert readout.ga_spacing_string(800, 540, 0.1) == "0.36"
    with pytest.raises(ValueError, match="pixel_size_mm"):
        readout.ga_spacing_string(800, 540, 0.0)


def test_prompts_are_the_reference_files_and_classes():
    assert tuple(plane_prompts()) == PLANE_CLASSES
    assert set(PLANE_DISPLAY_NAMES) == set(PLANE_CLASSES)
    assert PLANE_DISPLAY_NAMES["heart"] == "Thorax / heart"
    assert tuple(brain_subplane_prompts()) == BRAIN_SUBPLANE_CLASSES
    for name in ("prompts_planes.json", "prompts_brain_subplanes.json"):
        shared = json.load(open(f"{SHARED}/{name}", encoding="utf-8"))
        ours = brain_subplane_prompts() if "brain" in name else plane_prompts()
        assert {k: list(v) for k, v in ours.items()} == shared
    grid = ga_prompt_grid("0.43")
    assert len(grid) == 5 and all(len(row) == 175 for row in grid)
    golden = json.load(open(f"{SHARED}/tokenizer_golden.json", encoding="utf-8"))["cases"][1]["text"]
    assert grid[0][5 * 7 + 0] == golden  # 19 weeks 0 days = index 35


def test_tokenizer_matches_golden_ids(tiny_loaded):
    golden = json.load(open(f"{SHARED}/tokenizer_golden.json", encoding="utf-8"))["cases"]
    tokens = tiny_loaded.tokenize([c["text"] for c in golden]).numpy()
    assert tokens.shape == (len(golden), 117)
    for row, case in zip(tokens, golden, strict=True):
        n = len(case["ids_until_eot"])
        assert row[:n].tolist() == case["ids_until_eot"]
        assert not row[n:].any()


def _reference_preprocess(img: Image.Image):
    import open_clip

    width, height = img.size
    side = max(width, height)
    canvas = Image.new(img.mode, (side, side), 0)
    canvas.paste(img, ((side - width) // 2, (side - height) // 2))
    return open_clip.image_transform(224, is_train=False)(canvas)


@pytest.mark.parametrize("shape", [(301, 450), (450, 301), (224, 224), (99, 100), (500, 377, 3)])
def test_batched_preprocessing_equals_pil_open_clip_path(shape):
    import torch

    rng = np.random.default_rng(sum(shape))
    arr = rng.integers(0, 256, shape, dtype=np.uint8)
    expected = _reference_preprocess(Image.fromarray(arr))
    assert torch.equal(preprocess_image(arr), expected)
    batch = preprocess_batch([arr, Image.fromarray(arr)])
    assert torch.equal(batch[0], expected) and torch.equal(batch[1], expected)


def test_rgba_is_converted_and_padding_is_floor_centred():
    import torch

    rgba = Image.new("RGBA", (5, 2), (200, 100, 50, 10))
    assert torch.equal(preprocess_image(rgba), _reference_preprocess(rgba.convert("RGB")))
    padded = np.asarray(pad_to_square(Image.new("L", (5, 2), 255)))
    assert padded.shape == (5, 5)
    assert padded[:, 0].tolist() == [0, 255, 255, 0, 0]  # offset floor(3/2) = 1: extra row at the bottom


def test_frame_prediction_round_trip_and_validation():
    probs = {k: 0.0 for k in PLANE_CLASSES}
    probs["brain"] = 1.0
    pred = FramePrediction(
        source="x.dcm",
        frame_index=3,
        plane_probs=probs,
        top_plane="brain",
        top_prob_0_1=1.0,
        brain_subplane_probs={k: 1 / 3 for k in BRAIN_SUBPLANE_CLASSES},
        ga_days=150,
        pixel_spacing_mm=0.2,
        crop_box_px=(1, 2, 3, 4),
    )
    again = FramePrediction.from_dict(json.loads(json.dumps(pred.to_dict())))
    assert again == pred
    assert pred.ga_weeks_days == "21w 3d"
    with pytest.raises(ValueError, match="ga_unavailable_reason"):
        FramePrediction("x", 0, probs, "brain", 1.0)
    with pytest.raises(ValueError, match="plane_probs"):
        FramePrediction("x", 0, {"brain": 1.0}, "brain", 1.0, ga_unavailable_reason="r")
