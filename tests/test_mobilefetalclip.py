"""MobileFetalCLIP (arXiv 2603.05421): strict loading of the authors' checkpoint naming, the reference
pipeline (256 px, ImageNet mean/std, Pillow bicubic after zero padding, text padded to 117, GA spacing with
256) against an independent implementation written here, the model choice and recognition of checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fetalviewer.errors import WeightsMismatch
from fetalviewer.paths import resources_dir
from tests.mobile_fixtures import tiny_mobile_state, tiny_mobile_weights  # noqa: F401 (fixtures)
from tests.model_fixtures import tiny_state, tiny_weights  # noqa: F401 (fixtures)


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def mobile_engine(tiny_mobile_weights):  # noqa: F811
    from fetalviewer.model.engine import FetalClipEngine
    from fetalviewer.model.selection import load_model
    from tests.mobile_fixtures import TINY_MOBILE_CONFIG

    loaded = load_model("mobilefetalclip", tiny_mobile_weights, TINY_MOBILE_CONFIG, device="cpu")
    return FetalClipEngine(loaded)


# ------------------------------------------------------------------ the independent reference, written here
class Reference:
    """open_clip model built directly with timm's names, torchvision eval transform, torch read-outs."""

    def __init__(self, state) -> None:
        import open_clip
        import torch

        from tests.mobile_fixtures import TINY_MOBILE_CONFIG

        cfg = json.loads(TINY_MOBILE_CONFIG.read_text())
        pp = cfg.pop("preprocess_cfg")
        self.model = open_clip.model.CustomTextCLIP(embed_dim=cfg["embed_dim"], vision_cfg=cfg["vision_cfg"],
                                                    text_cfg=cfg["text_cfg"]).eval()  # fmt: skip
        self.model.load_state_dict(state, strict=True)
        assert self.model.text.attn_mask is None  # bidirectional text tower
        self.tokenizer = open_clip.tokenize
        self.context = cfg["text_cfg"]["context_length"]
        self.size, self.mean, self.std = pp["size"], pp["mean"], pp["std"]
        self.torch = torch
        self._memo = {}

    def pixels(self, image: Image.Image):
        from torchvision import transforms as T

        image = image.convert("RGB") if image.mode == "RGBA" else image
        w, h = image.size
        side = max(w, h)
        square = Image.new(image.mode, (side, side), 0)
        square.paste(image, ((side - w) // 2, (side - h) // 2))
        tf = T.Compose([T.Resize(self.size, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(self.size),
                        lambda im: im.convert("RGB"), T.ToTensor(), T.Normalize(self.mean, self.std)])  # fmt: skip
        return tf(square)[None]

    def image(self, image: Image.Image):
        with self.torch.no_grad():
            f = self.model.encode_image(self.pixels(image))
        return f / f.norm(dim=-1, keepdim=True)

    def text(self, prompts):
        key = tuple(prompts)
        if key not in self._memo:
            self._memo[key] = self._text(prompts)
        return self._memo[key]

    def _text(self, prompts):
        tokens = self.tokenizer(prompts, context_length=self.context)  # zero-padded to exactly 117
        assert tokens.shape[1] == 117
        with self.torch.no_grad():
            f = self.model.encode_text(tokens)
        return f / f.norm(dim=-1, keepdim=True)

    def class_probs(self, img, prompt_file: str):
        prompts = json.loads((resources_dir() / "prompts" / prompt_file).read_text())
        cls = []
        for texts in prompts.values():
            mean = self.text(list(texts)).mean(0)
            cls.append(mean / mean.norm())
        logits = 100 * img @ self.torch.stack(cls).T
        return list(prompts), logits.softmax(-1)[0].numpy()

    def ga_days(self, img, width: int, height: int, pixel_mm: float) -> int:
        spec = json.loads((resources_dir() / "prompts" / "prompts_ga_templates.json").read_text())
        spacing = f"{max(width, height) / 256 * pixel_mm:.2f}"
        weeks = range(spec["weeks"][0], spec["weeks"][1] + 1)
        days = range(spec["days"][0], spec["days"][1] + 1)
        dots = []
        for template in spec["templates"]:
            texts = [template.replace("{weeks}", str(w)).replace("{day}", str(d))
                     .replace("{pixel_spacing}", spacing) for w in weeks for d in days]  # fmt: skip
            dots.append((100 * img @ self.text(texts).T)[0])
        mean = self.torch.stack(dots).mean(0)
        top = self.torch.topk(mean, 15).indices.sort().values
        return 98 + int(top[7])


@pytest.fixture(scope="module")
def reference(tiny_mobile_state):  # noqa: F811
    return Reference(tiny_mobile_state)


def _head_like(rows: int, cols: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:cols]
    ring = np.abs(np.hypot((yy - rows / 2) / (rows / 3), (xx - cols / 2) / (cols / 2.6)) - 1) < 0.08
    img = rng.integers(0, 60, (rows, cols)).astype(np.uint8)
    img[ring] = 220
    return img


def _compare(prediction, reference, img, width, height, pixel_mm, engine):
    keys, planes = reference.class_probs(img, "prompts_planes.json")
    got = np.array([prediction.plane_probs[k] for k in keys])
    assert np.abs(got - planes).max() < 1e-4
    _keys, brain = reference.class_probs(img, "prompts_brain_subplanes.json")
    assert np.abs(np.array(list(prediction.brain_subplane_probs.values())) - brain).max() < 1e-4
    assert prediction.ga_pixel_spacing == f"{max(width, height) / 256 * pixel_mm:.2f}"
    assert prediction.ga_days == reference.ga_days(img, width, height, pixel_mm)
    assert prediction.model == "MobileFetalCLIP zero-shot"


# ------------------------------------------------------------------------------------------------ tests
def test_authors_checkpoint_loads_strictly_through_timms_filter(tiny_mobile_weights, tiny_mobile_state,  # noqa: F811
                                                                monkeypatch):  # fmt: skip
    import timm.models.fastvit as fastvit
    import torch

    from fetalviewer.model.loader import load_checkpoint
    from tests.mobile_fixtures import TINY_MOBILE_CONFIG

    raw = torch.load(tiny_mobile_weights, weights_only=True)
    n_trunk = sum(k.startswith("visual.trunk.") for k in raw["state_dict"])
    assert "visual.trunk.patch_embed.0.rbr_conv.0.conv.weight" in raw["state_dict"]
    assert not any(k.startswith("module.") for k in raw["state_dict"]) and "optimizer" in raw
    calls = []
    real = fastvit.checkpoint_filter_fn
    monkeypatch.setattr(fastvit, "checkpoint_filter_fn", lambda sd, m: calls.append(len(sd)) or real(sd, m))
    loaded = load_checkpoint(tiny_mobile_weights, TINY_MOBILE_CONFIG)
    assert calls == [n_trunk]  # the image-tower sub-dict went through timm's own renaming
    model_state = loaded.model.state_dict()
    assert set(model_state) == set(tiny_mobile_state)
    assert all(torch.equal(model_state[k], v) for k, v in tiny_mobile_state.items())
    assert loaded.info.model_name == "MobileFetalCLIP" and "FastViT MCi0" in loaded.info.description
    assert loaded.input_px == 256 and loaded.preprocess.mean == (0.485, 0.456, 0.406)


def test_full_size_checkpoint_names_map_onto_timms_mci0_exactly():
    """The published architecture (bundled config, built on the meta device: no weights, no memory): its
    934 tensors in the authors' naming (784 in the image tower) map onto timm's fastvit_mci0 exactly."""
    import torch

    from fetalviewer.model.checkpoint import check_state_dict
    from fetalviewer.model.families import MOBILEFETALCLIP, recognise
    from fetalviewer.model.loader import build_model, register_config
    from fetalviewer.model.mobile import to_timm_names
    from tests.mobile_fixtures import to_mobileclip_names

    name, _cfg = register_config(MOBILEFETALCLIP.default_config_path)
    with torch.device("meta"):
        meta = build_model(name, device="meta")
    apple = to_mobileclip_names(meta.state_dict())
    assert len(apple) == 934 and sum(k.startswith("visual.trunk.") for k in apple) == 784
    assert "visual.trunk.head.weight" in apple and "visual.trunk.network.6.pe.reparam_conv.weight" not in apple
    check_state_dict(meta.state_dict(), to_timm_names(apple, meta, "published"), "published")
    fam, text = recognise(apple)
    assert fam is MOBILEFETALCLIP and text == "MobileFetalCLIP (FastViT MCi0, 75 M parameters)"


@pytest.mark.parametrize("drop", ["visual.trunk.conv_exp.se.reduce.weight", "visual.trunk.network.7.1.layer_scale_2"])
def test_missing_image_tower_tensor_is_refused_by_name(tmp_path, tiny_mobile_state, drop):  # noqa: F811
    from fetalviewer.model.loader import load_checkpoint
    from tests.mobile_fixtures import TINY_MOBILE_CONFIG, save_authors_format, to_mobileclip_names

    apple = to_mobileclip_names(tiny_mobile_state)
    assert drop in apple
    del apple[drop]
    path = save_authors_format(apple, tmp_path / "short.pt")
    timm_name = {"visual.trunk.conv_exp.se.reduce.weight": "visual.trunk.final_conv.se.fc1.weight",
                 "visual.trunk.network.7.1.layer_scale_2": "visual.trunk.stages.3.blocks.1.layer_scale_2.gamma"}
    with pytest.raises(WeightsMismatch, match="missing keys: " + timm_name[drop].replace(".", r"\.")):
        load_checkpoint(path, TINY_MOBILE_CONFIG)


def test_unexpected_image_tower_tensor_is_refused_by_name(tmp_path, tiny_mobile_state):  # noqa: F811
    import torch

    from fetalviewer.model.loader import load_checkpoint
    from tests.mobile_fixtures import TINY_MOBILE_CONFIG, save_authors_format, to_mobileclip_names

    apple = to_mobileclip_names(tiny_mobile_state)
    apple["visual.trunk.conv_exp.extra_scale"] = torch.ones(3)
    path = save_authors_format(apple, tmp_path / "extra.pt")
    with pytest.raises(WeightsMismatch, match=r"unexpected keys: visual\.trunk\.final_conv\.extra_scale"):
        load_checkpoint(path, TINY_MOBILE_CONFIG)


def test_png_matches_the_reference(mobile_engine, reference, tmp_path):
    from fetalviewer.model.engine import AnalyzeOptions
    from fetalviewer.model.inputs import frame_input_from_image

    arr = _head_like(90, 130, seed=1)
    path = tmp_path / "head.png"
    Image.fromarray(arr).save(path)
    [pred] = mobile_engine.predict([frame_input_from_image(path, pixel_size_mm=0.21)],
                                   AnalyzeOptions(head_readouts_for_all_frames=True))  # fmt: skip
    img = reference.image(Image.open(path))
    _compare(pred, reference, img, 130, 90, 0.21, mobile_engine)
    # search: 100 x cos between a query and the frame, as the reference computes it
    emb = mobile_engine.embed_images([arr])
    _order, scores = mobile_engine.rank_by_text("fetal head biometry plane", emb)
    expected = float(100 * img @ reference.text(["fetal head biometry plane"])[0])
    assert abs(float(scores[0]) - expected) < 1e-4


def test_calibrated_dicom_matches_the_reference(mobile_engine, reference, tmp_path):
    from fetalviewer.dicom import open_instance
    from fetalviewer.model.engine import AnalyzeOptions
    from fetalviewer.model.inputs import frame_inputs_from_cine
    from tests.model_fixtures import write_us_dicom

    frames = np.stack([_head_like(70, 100, seed=s) for s in (2, 3)])
    path = write_us_dicom(tmp_path / "cine.dcm", frames, region_box=(10, 8, 89, 61), delta_cm=(0.031, 0.031))
    cine = open_instance(path)
    try:
        inputs = frame_inputs_from_cine(cine)
        preds = mobile_engine.predict(inputs, AnalyzeOptions(head_readouts_for_all_frames=True))
    finally:
        cine.close()
    for i, pred in enumerate(preds):
        crop = frames[i][8:62, 10:90]  # the calibrated tissue region, inclusive box
        _compare(pred, reference, reference.image(Image.fromarray(crop)), 80, 54, 0.31, mobile_engine)


def test_checkpoints_are_recognised_from_their_tensors(tiny_weights, tiny_mobile_weights, capsys):  # noqa: F811
    from fetalviewer.cli import main
    from fetalviewer.model.weights import recognise_file, weights_status
    from tests.mobile_fixtures import TINY_MOBILE_CONFIG
    from tests.model_fixtures import TINY_CONFIG

    fam, text = recognise_file(tiny_weights)
    assert fam.key == "fetalclip" and text.startswith("FetalCLIP (ViT")
    fam, text = recognise_file(tiny_mobile_weights)
    assert fam.key == "mobilefetalclip" and text.startswith("MobileFetalCLIP (FastViT MCi0, ")
    assert main(["weights", "install", str(tiny_weights), "--config", str(TINY_CONFIG)]) == 0
    assert "holds FetalCLIP (ViT" in capsys.readouterr().out
    assert main(["weights", "install", str(tiny_mobile_weights), "--config", str(TINY_MOBILE_CONFIG)]) == 0
    assert "holds MobileFetalCLIP (FastViT MCi0" in capsys.readouterr().out
    status = weights_status()
    assert sorted(m["model"] for m in status["models"]) == ["fetalclip", "mobilefetalclip"]  # side by side
    assert main(["weights", "status"]) == 0
    out = capsys.readouterr().out
    assert "FetalCLIP (ViT" in out and "MobileFetalCLIP (FastViT MCi0" in out


def test_auto_choice(tiny_weights, tiny_mobile_weights, monkeypatch):  # noqa: F811
    from fetalviewer.errors import WeightsNotFound
    from fetalviewer.model import weights
    from fetalviewer.model.selection import select_model
    from fetalviewer.settings import update_settings

    record = {"fetalclip": {"weights_path": str(tiny_weights)}}
    update_settings(installed_weights=record)
    assert select_model("auto", device="cpu").family.key == "fetalclip"  # the only one installed
    with pytest.raises(WeightsNotFound, match="no MobileFetalCLIP weights installed"):
        select_model("mobilefetalclip", device="cpu")
    record["mobilefetalclip"] = {"weights_path": str(tiny_mobile_weights)}
    update_settings(installed_weights=record)
    assert select_model("auto", device="cpu").family.key == "mobilefetalclip"  # CPU: the small one
    monkeypatch.setattr(weights, "_on_gpu", lambda device: True)
    assert select_model("auto").family.key == "fetalclip"  # GPU: FetalCLIP
    assert select_model("mobilefetalclip").weights_path == tiny_mobile_weights
    with pytest.raises(WeightsMismatch, match="holds MobileFetalCLIP"):
        select_model("fetalclip", weights=tiny_mobile_weights)
    with pytest.raises(ValueError, match="model must be one of"):
        select_model("clip")


def test_a_config_preprocess_cfg_decides_the_preprocessing(tmp_path, tiny_weights):  # noqa: F811
    import torch
    from torchvision import transforms as T

    from fetalviewer.model.selection import load_model
    from tests.model_fixtures import TINY_CONFIG

    cfg = json.loads(TINY_CONFIG.read_text())
    cfg["preprocess_cfg"] = {"size": 224, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3],
                             "interpolation": "bilinear"}  # fmt: skip
    config = tmp_path / "FetalCLIP_tiny_pp.json"
    config.write_text(json.dumps(cfg))
    loaded = load_model("auto", tiny_weights, config, device="cpu")
    assert loaded.preprocess.interpolation == "bilinear" and loaded.preprocess.mean == (0.5, 0.4, 0.3)
    img = Image.fromarray(_head_like(50, 80, seed=4))
    square = Image.new("L", (80, 80), 0)
    square.paste(img, (0, 15))
    expected = T.Compose([T.Resize(224, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(224),
                          lambda im: im.convert("RGB"), T.ToTensor(),
                          T.Normalize([0.5, 0.4, 0.3], [0.2, 0.25, 0.3])])(square)  # fmt: skip
    assert torch.allclose(loaded.preprocess_batch([np.asarray(img)])[0], expected, atol=1e-6)
