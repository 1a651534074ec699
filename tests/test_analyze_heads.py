"""``fetalviewer analyze`` / ``report`` with trained FetalCLIP heads installed (tiny random-weight backbone).

The tiny backbone's zero-shot plane labels are random, so the tests choose which frames the model calls
heart or brain by wrapping the engine's read-out (the embeddings and everything after them are real).
"""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest

from fetalviewer.cli import main
from fetalviewer.model.heads.headfile import HEAD_SUFFIX
from fetalviewer.model.heads.training import TrainOptions, train_head
from fetalviewer.paths import user_dirs
from fetalviewer.report.sr import ObGynSR
from tests.helpers import write_png as _png

pytest_plugins = ["tests.model_fixtures"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _force_planes(monkeypatch, plane_of_frame):
    """Make the engine's top plane ``plane_of_frame(frame_index)`` (None: keep the model's)."""
    from fetalviewer.model.engine import FetalClipEngine
    from fetalviewer.model.planes import PLANE_CLASSES

    real = FetalClipEngine.predict_embeddings

    def predict_embeddings(self, inputs, embeddings, options=None):
        preds = real(self, inputs, embeddings) if options is None else real(self, inputs, embeddings, options)
        out = []
        for pred in preds:
            plane = plane_of_frame(pred.frame_index)
            if plane is None:
                out.append(pred)
                continue
            probs = {k: (0.9 if k == plane else 0.1 / (len(PLANE_CLASSES) - 1)) for k in PLANE_CLASSES}
            out.append(dataclasses.replace(pred, plane_probs=probs, top_plane=plane, top_prob_0_1=0.9))
        return out

    monkeypatch.setattr(FetalClipEngine, "predict_embeddings", predict_embeddings)


def _seg_data(root):
    rng = np.random.default_rng(3)
    rows, cols = 90, 120
    yy, xx = np.mgrid[0:rows, 0:cols]
    for i in range(4):
        cx, cy, a, b = rng.uniform(50, 70), rng.uniform(40, 50), rng.uniform(20, 28), rng.uniform(14, 18)
        mask = (((xx - cx) / a) ** 2 + ((yy - cy) / b) ** 2 <= 1).astype(np.uint8)
        image = np.clip(rng.normal(40, 15, (rows, cols)) + 160 * mask, 0, 255).astype(np.uint8)
        _png(root / "images" / f"im{i}.png", image)
        _png(root / "masks" / f"im{i}.png", mask * 255)
    return root


def _chd_data(root):
    rng = np.random.default_rng(5)
    labels = []
    for i in range(6):
        label = "abnormal" if i % 2 else "normal"
        for f in range(2):
            level = 190 if label == "abnormal" else 50
            _png(
                root / f"clip{i}" / f"f{f}.png",
                np.clip(rng.normal(level, 20, (48, 64)), 0, 255).astype(np.uint8),
            )
        labels.append({"clip": f"clip{i}", "label": label})
    with open(root / "labels.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["clip", "label"])
        writer.writeheader()
        writer.writerows(labels)
    return root


def _install_seg_head(loaded, tmp_path):
    out = user_dirs().heads_dir / f"seg{HEAD_SUFFIX}"
    opts = TrainOptions(epochs=1, batch=4, feature_size=4)
    train_head("seg", _seg_data(tmp_path / "seg"), loaded, out, tmp_path / "work_seg", opts)
    return out


def _install_chd_head(loaded, tmp_path):
    out = user_dirs().heads_dir / f"chd{HEAD_SUFFIX}"
    train_head("chd", _chd_data(tmp_path / "chd"), loaded, out, tmp_path / "work_chd", TrainOptions(epochs=2))
    return out


def _cine(tmp_path, n=4):
    from tests.model_fixtures import write_us_dicom

    rng = np.random.default_rng(7)
    frames = rng.integers(0, 256, (n, 60, 80), dtype=np.uint8)
    path = write_us_dicom(tmp_path / "cine.dcm", frames)
    import pydicom

    ds = pydicom.dcmread(path)  # the Type 2 patient/study attributes a scanner writes (the SR copies them)
    for keyword in ("PatientID", "PatientBirthDate", "PatientSex", "StudyID", "AccessionNumber",
                    "StudyDate", "StudyTime", "ReferringPhysicianName"):  # fmt: skip
        setattr(ds, keyword, "")
    ds.save_as(path)
    return path


def _analyze(tmp_path, capsys, *args):
    out = tmp_path / "analyze.json"
    code = main(["analyze", *map(str, args), "--device", "cpu", "--json", str(out)])
    text = capsys.readouterr().out
    return code, json.loads(out.read_text()), text


def test_installed_fetalclip_seg_head_runs_on_head_frames(tiny_loaded, tiny_weights, tiny_config, tmp_path,
                                                          capsys, monkeypatch):  # fmt: skip
    head = _install_seg_head(tiny_loaded, tmp_path)
    _force_planes(monkeypatch, lambda i: "brain" if i == 0 else "abdomen")
    cine = _cine(tmp_path, n=2)
    code, data, text = _analyze(tmp_path, capsys, cine, "--weights", tiny_weights, "--config", tiny_config)
    assert code == 0
    assert f"[segmented by the FetalCLIP seg head {head.name}]" in text
    brain, abdomen = data["frames"]
    seg = brain["head_segmentation"]
    assert seg["source"] == "fetalclip-seg-head"
    assert seg["model_name"] == f"fetalclip-seg-head:{head.name}"
    assert (
        "FetalCLIP segmentation head" in seg["fetalclip_seg_head"] and head.name in seg["fetalclip_seg_head"]
    )
    import hashlib

    assert seg["weights_sha256"] == hashlib.sha256(head.read_bytes()).hexdigest()
    # the mask is the installed head's own prediction on the frame, in original pixels
    from fetalviewer.dicom import open_instance
    from fetalviewer.dicom.calibration import single_tissue_region
    from fetalviewer.model.heads.backbone import BackboneSpec
    from fetalviewer.model.heads.runtime import SegHead

    loop = open_instance(cine)
    expected = SegHead(head, BackboneSpec.from_loaded(tiny_loaded)).segment(
        tiny_loaded, loop.frame(0), single_tissue_region(loop.regions)
    )
    loop.close()
    assert seg["crop_box_px"] == list(expected.crop_box)
    assert abs(seg["mask_area_px"] - expected.area_px) <= max(2, 0.02 * expected.area_px)
    assert abdomen["head_segmentation"] is None
    assert "not a head frame" in abdomen["biometry_unavailable_reason"]


def test_seg_head_for_another_backbone_is_refused_and_the_default_head_runs(
    tiny_loaded, tiny_weights, tiny_config, tmp_path, capsys, monkeypatch
):
    from fetalviewer.model.heads.headfile import load_head, save_head

    head = _install_seg_head(tiny_loaded, tmp_path)
    header, state = load_head(head)
    other = dataclasses.replace(header.backbone, weights_sha256="0" * 64)  # same shape, other weights
    save_head(head, dataclasses.replace(header, backbone=other), state)
    _force_planes(monkeypatch, lambda i: "brain")
    code, data, _ = _analyze(tmp_path, capsys, _cine(tmp_path, n=2), "--step", "2",
                             "--weights", tiny_weights, "--config", tiny_config)  # fmt: skip
    assert code == 0
    (frame,) = data["frames"]
    seg = frame["head_segmentation"]
    assert seg["source"] == "default-head"
    note = seg["fetalclip_seg_head"]
    assert note.startswith("default head model") and str(head) in note
    assert "trained for another backbone" in note and "weights_sha256" in note


def test_clip_chd_block_scores_the_heart_frames_with_the_installed_head(
    tiny_loaded, tiny_weights, tiny_config, tmp_path, capsys, monkeypatch
):
    from fetalviewer.dicom import open_instance
    from fetalviewer.model.heads.backbone import BackboneSpec, embed_frames
    from fetalviewer.model.heads.runtime import ChdProbe
    from fetalviewer.model.inputs import frame_inputs_from_cine

    head = _install_chd_head(tiny_loaded, tmp_path)
    _force_planes(monkeypatch, lambda i: "heart" if i in (1, 2) else "abdomen")
    cine = _cine(tmp_path, n=4)
    code, data, text = _analyze(tmp_path, capsys, cine, "--weights", tiny_weights, "--config", tiny_config)
    assert code == 0
    (clip,) = data["clips"]
    assert clip["n_frames"] == 4 and clip["frames_analysed"] == [0, 1, 2, 3]
    chd = clip["chd"]
    assert chd["chd_scope"] == "clip" and chd["chd_frames_used"] == [1, 2]
    assert chd["chd_unavailable_reason"] is None and chd["chd_head"]["head_file"] == str(head)
    assert "validation" in chd["chd_head"] and len(chd["chd_head"]["head_sha256"]) == 64

    # the same score from the head on the embeddings of the same (region-cropped) frames
    loop = open_instance(cine)
    inputs = frame_inputs_from_cine(loop, [1, 2], crop=True)
    loop.close()
    score = ChdProbe(head, BackboneSpec.from_loaded(tiny_loaded)).score(
        embed_frames(tiny_loaded, [i.image for i in inputs])
    )
    assert chd["chd_score_0_1"] == pytest.approx(score.prob_abnormal_0_1, abs=1e-4)
    assert chd["chd_threshold_0_1"] == score.threshold_0_1
    assert chd["chd_review_flag"] is (score.prob_abnormal_0_1 >= score.threshold_0_1)
    wording = "CHD review suggested" if chd["chd_review_flag"] else "No CHD review prompt"
    assert (
        chd["chd_text"].startswith(wording) and "not a diagnosis" in chd["chd_text"] + chd["chd_value_source"]
    )

    frames = {f["frame_index"]: f for f in data["frames"]}
    assert frames[1]["chd_score_0_1"] == chd["chd_score_0_1"] and frames[2]["chd_scope"] == "clip"
    assert frames[0]["chd_score_0_1"] is None and "not a heart frame" in frames[0]["chd_unavailable_reason"]
    assert f"(clip of 4 frames): {chd['chd_text']}" in text


def test_clip_without_chd_head_or_heart_frames_says_why(tiny_weights, tiny_config, tmp_path, capsys,
                                                        monkeypatch):  # fmt: skip
    _force_planes(monkeypatch, lambda i: "heart")
    cine = _cine(tmp_path, n=3)
    code, data, text = _analyze(tmp_path, capsys, cine, "--weights", tiny_weights, "--config", tiny_config)
    assert code == 0
    (clip,) = data["clips"]
    chd = clip["chd"]
    assert chd["chd_score_0_1"] is None and chd["chd_review_flag"] is None
    assert "no CHD head is installed" in chd["chd_unavailable_reason"]
    assert "fetalviewer train-head chd" in chd["chd_unavailable_reason"]
    assert chd["chd_frames_used"] == [0, 1, 2]
    assert "CHD review unavailable: no CHD head is installed" in text
    assert all("no CHD head is installed" in f["chd_unavailable_reason"] for f in data["frames"])


def test_clip_without_weights_says_the_chd_head_needs_them(tmp_path, capsys):
    code, data, _ = _analyze(tmp_path, capsys, _cine(tmp_path, n=2))
    assert code == 0
    (clip,) = data["clips"]
    assert clip["chd"]["chd_review_flag"] is None
    assert clip["chd"]["chd_unavailable_reason"].startswith("no FetalCLIP weights loaded")


def test_report_gets_the_clip_chd_flag(tiny_loaded, tiny_weights, tiny_config, tmp_path, monkeypatch):
    from fetalviewer.report.tables import read_report_json

    _install_chd_head(tiny_loaded, tmp_path)
    _force_planes(monkeypatch, lambda i: "heart")
    cine = _cine(tmp_path, n=4)
    out = tmp_path / "out"
    code = main(["report", str(cine), "--out", str(out), "--weights", str(tiny_weights), "--config",
                 str(tiny_config), "--analysis-step", "2", "--formats", "json,sr"])  # fmt: skip
    assert code == 0
    flags = read_report_json(out / "report.json")["chd_flags"]
    assert len(flags) == 1 and "heart frames 1, 3" in flags[0] and f"chd{HEAD_SUFFIX}" in flags[0]
    assert flags[0].startswith("Clip 1 (4 frames): ") and str(tmp_path) not in flags[0]
    assert "CHD review suggested" in flags[0] or "No CHD review prompt" in flags[0]
    sr = ObGynSR.from_file(out / "report_sr.dcm")
    assert sr.findings == (flags[0],)


def test_report_without_chd_head_says_why(tiny_weights, tiny_config, tmp_path, monkeypatch):
    from fetalviewer.report.tables import read_report_json

    _force_planes(monkeypatch, lambda i: "heart")
    out = tmp_path / "out"
    code = main(["report", str(_cine(tmp_path, n=2)), "--out", str(out), "--weights", str(tiny_weights),
                 "--config", str(tiny_config), "--formats", "json,sr"])  # fmt: skip
    assert code == 0
    (flag,) = read_report_json(out / "report.json")["chd_flags"]
    assert (
        flag.startswith("not available") and "no CHD head is installed" in flag and "train-head chd" in flag
    )
    assert ObGynSR.from_file(out / "report_sr.dcm").findings == ()


def test_report_scores_a_clip_from_the_windows_cache(
    tiny_loaded, tiny_weights, tiny_config, tmp_path, capsys
):
    """Cached read-outs choose the heart frames; only those are embedded again (un-normalised) for the head."""
    from fetalviewer.dicom import open_instance
    from fetalviewer.model.hashing import file_sha256
    from fetalviewer.model.heads.backbone import BackboneSpec, embed_frames
    from fetalviewer.model.heads.runtime import ChdProbe
    from fetalviewer.model.inputs import frame_inputs_from_cine
    from fetalviewer.model.planes import BRAIN_SUBPLANE_CLASSES, PLANE_CLASSES
    from fetalviewer.report.tables import read_report_json
    from fetalviewer.workspace.cache import AnalysisCache, CacheKey
    from fetalviewer.workspace.fetalclip_backend import identity_for
    from fetalviewer.workspace.results import InstanceAnalysis

    head = _install_chd_head(tiny_loaded, tmp_path)
    path = _cine(tmp_path, n=4)
    loop = open_instance(path)
    analysis = InstanceAnalysis(loop.sop_instance_uid, loop.n_frames, tuple(PLANE_CLASSES),
                                tuple(BRAIN_SUBPLANE_CLASSES), 32)  # fmt: skip
    probs = np.full((4, len(PLANE_CLASSES)), 0.02, np.float32)
    for frame, plane in enumerate(("abdomen", "heart", "abdomen", "heart")):
        probs[frame, PLANE_CLASSES.index(plane)] = 1.0 - 0.02 * (len(PLANE_CLASSES) - 1)
    analysis.store([0, 1, 2, 3], plane_probs=probs, brain_probs=np.full((4, 3), 1 / 3, np.float32),
                   ga_days=np.full(4, np.nan, np.float32), embeddings=np.zeros((4, 32), np.float32))  # fmt: skip
    identity = identity_for(file_sha256(tiny_weights), "FetalCLIP_tiny_test")
    AnalysisCache().save(CacheKey.for_file(loop.sop_instance_uid, path, identity), analysis)
    inputs = frame_inputs_from_cine(loop, [1, 3], crop=True)
    loop.close()
    expected = ChdProbe(head, BackboneSpec.from_loaded(tiny_loaded)).score(
        embed_frames(tiny_loaded, [i.image for i in inputs])
    )

    out = tmp_path / "out"
    code = main(["report", str(path), "--out", str(out), "--weights", str(tiny_weights), "--config",
                 str(tiny_config), "--formats", "json"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "reusing the window's cached analysis: 4 frame(s) of 1 instance(s)" in printed
    assert "embedding the heart frames of 1 cached clip(s) for the CHD head" in printed
    (flag,) = read_report_json(out / "report.json")["chd_flags"]
    assert "heart frames 2, 4" in flag and f"score {expected.prob_abnormal_0_1:.2f}" in flag
