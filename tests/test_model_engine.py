"""The engine against an independent implementation of the FetalCLIP reference, on images and DICOM."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fetalviewer.model.engine import AnalyzeOptions, FetalClipEngine
from fetalviewer.model.inputs import frame_input_from_image, frame_inputs_from_cine
from fetalviewer.model.planes import BRAIN_SUBPLANE_CLASSES, PLANE_CLASSES

pytest_plugins = ["tests.model_fixtures"]

ALL_HEAD = AnalyzeOptions(head_readouts_for_all_frames=True)


# --- independent implementation: PIL pad + open_clip transform + model.encode_* + plain numpy ---------
def _ref_image_embedding(model, pil: Image.Image) -> np.ndarray:
    import open_clip
    import torch

    w, h = pil.size
    side = max(w, h)
    canvas = Image.new(pil.mode, (side, side), 0)
    canvas.paste(pil, ((side - w) // 2, (side - h) // 2))
    x = open_clip.image_transform(224, is_train=False)(canvas)[None]
    with torch.no_grad():
        emb = model.encode_image(x)[0].double().numpy()
    return emb / np.linalg.norm(emb)


def _ref_text(model, tokenizer, texts) -> np.ndarray:
    import torch

    with torch.no_grad():
        emb = model.encode_text(tokenizer(list(texts))).double().numpy()  # full 117-token context
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def _ref_softmax_probs(model, tokenizer, img, prompts_json) -> dict[str, float]:
    import json

    prompts = json.loads(prompts_json.read_text(encoding="utf-8"))
    cls = []
    for texts in prompts.values():
        m = _ref_text(model, tokenizer, texts).mean(axis=0)
        cls.append(m / np.linalg.norm(m))
    logits = 100.0 * np.stack(cls) @ img
    e = np.exp(logits - logits.max())
    return dict(zip(prompts, e / e.sum(), strict=True))


def _ref_ga_days(model, tokenizer, img, width, height, pixel_size_mm) -> int:
    import json

    from fetalviewer.paths import resources_dir

    spec = json.loads((resources_dir() / "prompts" / "prompts_ga_templates.json").read_text(encoding="utf-8"))
    spacing = f"{max(width, height) / 224 * pixel_size_mm:.2f}"
    per_template = []
    for template in spec["templates"]:
        texts = [
            template.replace("{weeks}", str(w)).replace("{day}", str(d)).replace("{pixel_spacing}", spacing)
            for w in range(14, 39)
            for d in range(7)
        ]
        per_template.append(100.0 * _ref_text(model, tokenizer, texts) @ img)
    dots = np.mean(per_template, axis=0)
    top15 = sorted(np.argsort(-dots)[:15].tolist())
    return 98 + top15[7]


def _reference(loaded, pil, pixel_size_mm):
    from fetalviewer.paths import resources_dir

    model, tok = loaded.model, loaded.tokenizer
    img = _ref_image_embedding(model, pil)
    prompts = resources_dir() / "prompts"
    planes = _ref_softmax_probs(model, tok, img, prompts / "prompts_planes.json")
    brain = _ref_softmax_probs(model, tok, img, prompts / "prompts_brain_subplanes.json")
    ga = _ref_ga_days(model, tok, img, pil.size[0], pil.size[1], pixel_size_mm)
    return planes, brain, ga


def _assert_matches(pred, planes, brain, ga):
    assert list(pred.plane_probs) == list(PLANE_CLASSES) == list(planes)
    for key in PLANE_CLASSES:
        assert abs(pred.plane_probs[key] - planes[key]) < 1e-4, key
    assert list(pred.brain_subplane_probs) == list(BRAIN_SUBPLANE_CLASSES)
    for key in BRAIN_SUBPLANE_CLASSES:
        assert abs(pred.brain_subplane_probs[key] - brain[key]) < 1e-4, key
    assert pred.ga_days == ga
    assert pred.top_plane == max(planes, key=planes.get)


def _smooth_image(seed: int, shape) -> np.ndarray:
    """A blurred random image (less extreme embeddings than white noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (shape[0] // 8 + 1, shape[1] // 8 + 1), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((shape[1], shape[0]), Image.BILINEAR))


@pytest.mark.parametrize("shape", [(180, 250), (251, 190)])
def test_engine_equals_independent_reference_on_plain_images(tiny_loaded, tmp_path, shape):
    path = tmp_path / "head.png"
    Image.fromarray(_smooth_image(shape[0], shape)).save(path)
    engine = FetalClipEngine(tiny_loaded)
    pred = engine.predict([frame_input_from_image(path, pixel_size_mm=0.15)], ALL_HEAD)[0]
    planes, brain, ga = _reference(tiny_loaded, Image.open(path), 0.15)
    _assert_matches(pred, planes, brain, ga)
    assert pred.pixel_spacing_mm == 0.15
    assert pred.ga_pixel_spacing == f"{max(shape) / 224 * 0.15:.2f}"
    assert pred.source == str(path) and pred.frame_index is None


def test_engine_equals_reference_on_dicom_frames_cropped_to_the_tissue_region(tiny_loaded, tmp_path):
    from model_fixtures import write_us_dicom

    from fetalviewer.dicom import open_instance

    frames = np.stack([_smooth_image(10 + i, (90, 120)) for i in range(2)])
    frames[:, :5, :] = 255  # a "banner" outside the region
    path = write_us_dicom(tmp_path / "cine.dcm", frames, region_box=(7, 9, 106, 80), delta_cm=(0.021, 0.021))
    cine = open_instance(path)
    inputs = frame_inputs_from_cine(cine)
    assert [i.crop_box_px for i in inputs] == [(7, 9, 106, 80)] * 2
    preds = FetalClipEngine(tiny_loaded).predict(inputs, ALL_HEAD)
    for i, pred in enumerate(preds):
        crop = Image.fromarray(frames[i, 9:81, 7:107])
        planes, brain, ga = _reference(tiny_loaded, crop, 0.21)
        _assert_matches(pred, planes, brain, ga)
        assert pred.frame_index == i
        assert pred.pixel_spacing_mm == pytest.approx(0.21)
    cine.close()


def test_no_crop_and_files_without_regions_use_the_whole_frame(tiny_loaded, tmp_path):
    from model_fixtures import write_us_dicom

    from fetalviewer.dicom import open_instance

    frame = _smooth_image(3, (70, 90))
    with open_instance(write_us_dicom(tmp_path / "a.dcm", frame)) as cine:
        item = frame_inputs_from_cine(cine, crop=False)[0]
    assert item.crop_box_px is None and item.image.shape == (70, 90)
    assert item.pixel_size_mm == pytest.approx(0.2)  # calibration still applies to the whole grid
    with open_instance(write_us_dicom(tmp_path / "b.dcm", frame, region_box=None)) as cine:
        plain = frame_inputs_from_cine(cine)[0]
        given = frame_inputs_from_cine(cine, pixel_size_mm=0.3)[0]
    assert plain.image.shape == (70, 90) and plain.pixel_size_mm is None
    assert "no pixel size" in plain.pixel_size_note
    assert given.pixel_size_mm == 0.3 and "--pixel-size-mm" in given.pixel_size_note
    pred = FetalClipEngine(tiny_loaded).predict([plain], ALL_HEAD)[0]
    assert pred.ga_days is None and "no pixel size" in pred.ga_unavailable_reason
    assert pred.brain_subplane_probs is not None


def test_anisotropic_pixels_make_ga_unavailable(tiny_loaded, tmp_path):
    from model_fixtures import write_us_dicom

    from fetalviewer.dicom import open_instance

    with open_instance(
        write_us_dicom(tmp_path / "a.dcm", _smooth_image(4, (60, 80)), delta_cm=(0.02, 0.03))
    ) as cine:
        item = frame_inputs_from_cine(cine)[0]
    assert item.pixel_size_mm is None and "anisotropic" in item.pixel_size_note
    pred = FetalClipEngine(tiny_loaded).predict([item], ALL_HEAD)[0]
    assert pred.ga_days is None and "anisotropic" in pred.ga_unavailable_reason


def test_head_readouts_only_for_brain_frames_by_default(tiny_loaded, tmp_path):
    engine = FetalClipEngine(tiny_loaded)
    items = []
    for seed in range(4):
        path = tmp_path / f"{seed}.png"
        Image.fromarray(_smooth_image(seed, (64, 64))).save(path)
        items.append(frame_input_from_image(path, pixel_size_mm=0.2))
    for pred in engine.predict(items):
        if pred.top_plane == "brain":
            assert pred.brain_subplane_probs is not None
        else:
            assert pred.brain_subplane_probs is None and pred.ga_days is None
            assert "not a head view" in pred.ga_unavailable_reason


def test_text_embeddings_are_cached_on_disk_per_weights_and_spacing(tiny_weights, tiny_config, tmp_path):
    from fetalviewer.model.loader import load_checkpoint

    path = tmp_path / "x.png"
    Image.fromarray(_smooth_image(5, (100, 140))).save(path)
    first = load_checkpoint(tiny_weights, tiny_config)
    first_engine = FetalClipEngine(first)
    told = []
    first_engine.text_cache.on_encode = lambda what, n: told.append((what, n))
    before = first_engine.predict([frame_input_from_image(path, 0.2)], ALL_HEAD)[0]
    assert first.text_encode_calls == 3  # planes, brain sub-planes, one GA spacing string
    assert [n for _, n in told] == [45, 15, 875] and "pixel spacing 0.12 mm" in told[2][0]
    again = load_checkpoint(tiny_weights, tiny_config)  # "re-opening": a new model object, same file
    engine = FetalClipEngine(again)
    after = engine.predict([frame_input_from_image(path, 0.2)], ALL_HEAD)[0]
    assert again.text_encode_calls == 0
    assert after == before
    engine.predict([frame_input_from_image(path, 0.3)], ALL_HEAD)  # another spacing string: GA only
    assert again.text_encode_calls == 1
    cached = sorted(p.name.split("-")[0] for p in engine.text_cache.folder.iterdir())
    assert cached == ["ga", "ga", "prompts", "prompts"]
    assert np.load(next(engine.text_cache.folder.glob("ga-*.npy"))).shape == (175, 32)


def test_text_cache_is_keyed_by_weights_sha256(tiny_state, tiny_config, tmp_path):
    from model_fixtures import save_official

    from fetalviewer.model.loader import load_checkpoint
    from fetalviewer.model.text_cache import TextEmbeddingCache

    other = {k: v.clone() for k, v in tiny_state.items()}
    other["text_projection"] = other["text_projection"] * 2
    a = load_checkpoint(save_official(tiny_state, tmp_path / "a.pt"), tiny_config)
    b = load_checkpoint(save_official(other, tmp_path / "b.pt"), tiny_config)
    assert TextEmbeddingCache(a).model_key != TextEmbeddingCache(b).model_key
    FetalClipEngine(a).plane_class_embeddings()
    FetalClipEngine(b).plane_class_embeddings()
    assert b.text_encode_calls == 1


def test_rank_by_text_orders_by_similarity(tiny_loaded):
    engine = FetalClipEngine(tiny_loaded)
    frames = [_smooth_image(s, (64, 80)) for s in range(3)]
    emb = engine.embed_images(frames)
    order, scores = engine.rank_by_text("fetal heart four chamber view", emb)
    query = engine.embed_text("fetal heart four chamber view")
    expected = 100 * emb.astype(np.float64) @ query
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    assert order.tolist() == np.argsort(-expected).tolist()
