"""FetalCLIP-feature heads on a tiny random-weight backbone with synthetic data: train, save, load, predict."""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest

from fetalviewer.errors import WeightsMismatch
from fetalviewer.model.heads.backbone import BackboneSpec
from fetalviewer.model.heads.training import TrainOptions, train_head
from tests.helpers import write_png as _png

pytest_plugins = ["tests.model_fixtures"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ellipse_image(rng, rows=90, cols=120):
    """Noise with one bright filled ellipse; returns (image uint8, mask uint8)."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    cx, cy = rng.uniform(40, 80), rng.uniform(35, 55)
    a, b = rng.uniform(18, 30), rng.uniform(12, 20)
    mask = (((xx - cx) / a) ** 2 + ((yy - cy) / b) ** 2 <= 1).astype(np.uint8)
    image = rng.normal(40, 15, (rows, cols)) + 160 * mask
    return np.clip(image, 0, 255).astype(np.uint8), mask


@pytest.fixture()
def seg_data(tmp_path):
    rng = np.random.default_rng(3)
    for i in range(10):
        image, mask = _ellipse_image(rng)
        _png(tmp_path / "seg" / "images" / f"im{i:02d}.png", image)
        _png(tmp_path / "seg" / "masks" / f"im{i:02d}.png", mask * 255)
    return tmp_path / "seg"


@pytest.fixture()
def plane_data(tmp_path):
    rng = np.random.default_rng(4)
    for cls, level in (("brain", 200), ("heart", 40)):
        for i in range(8):
            image = np.clip(rng.normal(level, 20, (64, 64)), 0, 255).astype(np.uint8)
            _png(tmp_path / "plane" / cls / f"{cls}{i}.png", image)
    return tmp_path / "plane"


@pytest.fixture()
def chd_data(tmp_path):
    rng = np.random.default_rng(5)
    root = tmp_path / "chd"
    rows = []
    for i in range(8):
        label = "abnormal" if i % 2 else "normal"
        for f in range(3):
            level = 190 if label == "abnormal" else 50
            _png(
                root / f"clip{i}" / f"f{f}.png",
                np.clip(rng.normal(level, 20, (48, 64)), 0, 255).astype(np.uint8),
            )
        rows.append({"clip": f"clip{i}", "label": label})
    with open(root / "labels.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["clip", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_seg_head_trains_saves_reloads_and_segments(tiny_loaded, seg_data, tmp_path):
    import torch

    from fetalviewer.model.heads.runtime import SegHead
    from fetalviewer.model.preprocess import preprocess_batch

    out = tmp_path / "seg.fvhead.safetensors"
    opts = TrainOptions(epochs=6, batch=4, lr=3e-3, feature_size=4)
    result = train_head("seg", seg_data, tiny_loaded, out, tmp_path / "work", opts)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 6
    assert losses[-1] < losses[0]
    assert result.header.validation["n"] >= 1 and 0.0 <= result.header.validation["dice_mean"] <= 1.0
    assert result.header.architecture["blocks"] == [6, 8, 12, 24]

    head = SegHead(out, BackboneSpec.from_loaded(tiny_loaded))
    image = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(seg_data / "images" / "im00.png"))
    pixels = preprocess_batch([image])
    from fetalviewer.model.heads.backbone import block_features
    from fetalviewer.model.heads.seg_decoder import resize_token_maps

    maps = resize_token_maps(block_features(tiny_loaded, pixels, (6, 8, 12, 24)), 14)
    with torch.inference_mode():
        before = result.module(maps, pixels)
        after = head.module(maps, pixels)
    assert torch.equal(before, after)
    assert torch.equal(head.predict_logits(tiny_loaded, pixels), after)

    seg = head.segment(tiny_loaded, image)
    assert seg.mask.shape == image.shape and seg.mask.dtype == np.uint8
    assert seg.source == "fetalclip-seg-head" and len(seg.weights_sha256) == 64


def test_plane_probe_trains_and_reproduces_after_reload(tiny_loaded, plane_data, tmp_path):
    import torch

    from fetalviewer.model.heads.backbone import embed_frames
    from fetalviewer.model.heads.runtime import PlaneProbe

    out = tmp_path / "plane.fvhead.safetensors"
    result = train_head(
        "plane", plane_data, tiny_loaded, out, tmp_path / "work", TrainOptions(epochs=30, lr=1e-2)
    )
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.8 * losses[0]
    assert result.header.class_names == ("brain", "heart")
    probe = PlaneProbe(out, BackboneSpec.from_loaded(tiny_loaded))
    frames = [np.full((64, 64), 200, np.uint8), np.full((64, 64), 40, np.uint8)]
    emb = embed_frames(tiny_loaded, frames)
    with torch.inference_mode():
        expected = torch.softmax(result.module(torch.from_numpy(emb)), dim=1).numpy()
    np.testing.assert_allclose(probe.predict_proba(emb), expected, rtol=1e-6, atol=1e-7)
    assert probe.predict_proba(emb).argmax(axis=1).tolist() == [0, 1]


def test_chd_probe_scores_a_clip_and_resume_continues(tiny_loaded, chd_data, tmp_path):
    from fetalviewer.model.heads.backbone import embed_frames
    from fetalviewer.model.heads.runtime import ChdProbe

    out = tmp_path / "chd.fvhead.safetensors"
    work = tmp_path / "work"
    first = train_head("chd", chd_data, tiny_loaded, out, work, TrainOptions(epochs=3, lr=1e-2))
    resumed = train_head(
        "chd", chd_data, tiny_loaded, out, work, TrainOptions(epochs=5, lr=1e-2), resume=True
    )
    assert len(resumed.history) == 5
    assert resumed.history[:3] == first.history
    assert resumed.history[-1]["loss"] < first.history[0]["loss"]
    assert "deviation_from_paper" in resumed.header.recipe
    probe = ChdProbe(out, BackboneSpec.from_loaded(tiny_loaded))
    bright = embed_frames(tiny_loaded, [np.full((48, 64), 190, np.uint8)] * 3)
    dark = embed_frames(tiny_loaded, [np.full((48, 64), 50, np.uint8)] * 3)
    assert probe.score(bright).prob_abnormal_0_1 > probe.score(dark).prob_abnormal_0_1
    score = probe.score(bright)
    assert score.n_frames == 3 and "review" in score.text() and "diagnos" not in score.text().lower()


def test_resume_refuses_a_checkpoint_of_another_run(tiny_loaded, chd_data, plane_data, tmp_path):
    from fetalviewer.errors import FetalViewerError

    work = tmp_path / "work"
    train_head("chd", chd_data, tiny_loaded, tmp_path / "a.fvhead.safetensors", work, TrainOptions(epochs=1))
    with pytest.raises(FetalViewerError, match="another training run"):
        train_head(
            "chd",
            chd_data,
            tiny_loaded,
            tmp_path / "b.fvhead.safetensors",
            work,
            TrainOptions(epochs=2, lr=1e-3),
            resume=True,
        )


def test_head_for_another_backbone_is_refused(tiny_loaded, plane_data, tmp_path):
    from fetalviewer.model.heads.headfile import HEAD_SUFFIX, find_head
    from fetalviewer.model.heads.runtime import PlaneProbe
    from fetalviewer.paths import user_dirs

    out = user_dirs().heads_dir / f"plane{HEAD_SUFFIX}"
    train_head("plane", plane_data, tiny_loaded, out, tmp_path / "work", TrainOptions(epochs=1))
    spec = BackboneSpec.from_loaded(tiny_loaded)
    assert find_head("plane", spec).path == out

    wider = dataclasses.replace(spec, vision_width=64)
    other_weights = dataclasses.replace(spec, weights_sha256="0" * 64)
    for other, field in ((wider, "vision_width"), (other_weights, "weights_sha256")):
        with pytest.raises(WeightsMismatch, match="another backbone") as info:
            PlaneProbe(out, other)
        assert str(out) in str(info.value) and field in str(info.value)
        choice = find_head("plane", other)
        assert choice.path is None and "another backbone" in choice.reason
    assert "no 'chd' head is installed" in find_head("chd", spec).reason
    assert find_head("plane", None).path is None


def test_head_file_of_wrong_kind_or_corrupt_is_refused(tiny_loaded, plane_data, tmp_path):
    from fetalviewer.model.heads.runtime import ChdProbe, SegHead

    out = tmp_path / "plane.fvhead.safetensors"
    train_head("plane", plane_data, tiny_loaded, out, tmp_path / "work", TrainOptions(epochs=1))
    spec = BackboneSpec.from_loaded(tiny_loaded)
    with pytest.raises(WeightsMismatch, match="'plane' head, expected a 'chd'"):
        ChdProbe(out, spec)
    broken = tmp_path / "broken.fvhead.safetensors"
    broken.write_bytes(b"not a safetensors file at all")
    with pytest.raises(WeightsMismatch, match="broken.fvhead.safetensors"):
        SegHead(broken, spec)


def test_train_head_command_line(tiny_weights, tiny_config, plane_data, tmp_path, capsys):
    from fetalviewer.cli import main

    out = tmp_path / "cli.fvhead.safetensors"
    rc = main(
        [
            "train-head",
            "plane",
            "--data",
            str(plane_data),
            "--weights",
            str(tiny_weights),
            "--config",
            str(tiny_config),
            "--epochs",
            "2",
            "--out",
            str(out),
            "--threads",
            "1",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0 and out.is_file()
    assert "epoch 2/2" in text and "validation score" in text

    rc = main(
        [
            "train-head",
            "seg",
            "--data",
            str(plane_data),
            "--weights",
            str(tiny_weights),
            "--config",
            str(tiny_config),
            "--epochs",
            "1",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "images/ and masks/" in err and str(plane_data) in err  # bad input: exit 2


def test_installed_heads_take_over_when_they_fit(tiny_loaded, seg_data, chd_data, tmp_path):
    from fetalviewer.model.heads.backbone import embed_frames
    from fetalviewer.model.heads.headfile import HEAD_SUFFIX
    from fetalviewer.model.heads.select import chd_score_for_clip, segment_head_auto
    from fetalviewer.paths import user_dirs

    heads = user_dirs().heads_dir
    emb = embed_frames(tiny_loaded, [np.full((48, 64), 190, np.uint8)] * 2)
    score, reason = chd_score_for_clip(emb, tiny_loaded)
    assert score is None and "no 'chd' head is installed" in reason and "train-head chd" in reason
    assert chd_score_for_clip(emb, None)[0] is None
    assert chd_score_for_clip(emb[:0], tiny_loaded) == (None, "no heart frames in this clip")

    train_head(
        "chd", chd_data, tiny_loaded, heads / f"chd{HEAD_SUFFIX}", tmp_path / "w1", TrainOptions(epochs=2)
    )
    score, note = chd_score_for_clip(emb, tiny_loaded)
    assert score is not None and score.n_frames == 2 and f"chd{HEAD_SUFFIX}" in note

    opts = TrainOptions(epochs=1, batch=4, feature_size=4)
    train_head("seg", seg_data, tiny_loaded, heads / f"seg{HEAD_SUFFIX}", tmp_path / "w2", opts)
    image = np.zeros((90, 120), np.uint8)
    seg, note = segment_head_auto(image, loaded=tiny_loaded)
    assert seg.source == "fetalclip-seg-head" and "FetalCLIP segmentation head" in note
    assert seg.mask.shape == (90, 120)
