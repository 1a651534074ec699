"""``fetalviewer analyze`` and ``fetalviewer weights`` end to end with a tiny random-weight checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from fetalviewer.cli import main

pytest_plugins = ["tests.model_fixtures"]


@pytest.fixture()
def png(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "head.png"
    Image.fromarray(rng.integers(0, 256, (60, 90), dtype=np.uint8)).save(path)
    return path


def _run_json(args, tmp_path, capsys):
    out = tmp_path / "out.json"
    code = main(["analyze", *map(str, args), "--json", str(out)])
    text = capsys.readouterr()
    return code, (json.loads(out.read_text()) if out.exists() else None), text


def test_analyze_png_and_dicom_writes_the_documented_fields(png, tmp_path, tiny_weights, tiny_config, capsys):
    from model_fixtures import write_us_dicom

    frames = np.random.default_rng(1).integers(0, 256, (3, 60, 80), dtype=np.uint8)
    folder = tmp_path / "study"
    folder.mkdir()
    write_us_dicom(folder / "cine.dcm", frames)
    (tmp_path / "notes.txt").write_text("not dicom")
    code, data, text = _run_json(
        [
            png,
            folder,
            tmp_path / "notes.txt",
            "--weights",
            tiny_weights,
            "--config",
            tiny_config,
            "--device",
            "cpu",
            "--pixel-size-mm",
            "0.1",
            "--head-readouts-all-frames",
            "--step",
            "2",
        ],
        tmp_path,
        capsys,
    )
    assert code == 0
    assert data["model"]["weights_sha256"] and data["model"]["config_name"] == "FetalCLIP_tiny_test"
    assert data["model"]["device"] == "cpu" and data["model"]["dtype"] == "float32"
    assert data["model"]["licence"] == "CC BY-NC 4.0"
    frames_out = data["frames"]
    assert [(f["source"].rsplit("/", 1)[-1], f["frame_index"]) for f in frames_out] == [
        ("head.png", None),
        ("cine.dcm", 0),
        ("cine.dcm", 2),
    ]
    for f in frames_out:
        assert list(f["plane_probs"]) == [
            "abdomen",
            "brain",
            "femur",
            "heart",
            "kidney",
            "lips_nose",
            "profile_patient",
            "spine",
            "cervix",
        ]
        assert abs(sum(f["plane_probs"].values()) - 1) < 1e-6
        assert f["top_plane"] == max(f["plane_probs"], key=f["plane_probs"].get)
        assert list(f["brain_subplane_probs"]) == ["trans-thalamic", "trans-cerebellum", "trans-ventricular"]
        assert isinstance(f["ga_days"], int) and 105 <= f["ga_days"] <= 265
    assert frames_out[0]["pixel_spacing_mm"] == 0.1
    assert frames_out[1]["pixel_spacing_mm"] == pytest.approx(0.2)  # the DICOM's own calibration wins
    assert frames_out[1]["crop_box_px"] == [10, 8, 69, 51]
    assert any(p["path"].endswith("notes.txt") for p in data["problems"])
    assert data["timings"]["frames_analysed"] == 3 and data["timings"]["model_load_s"] > 0
    assert "head.png" in text.out and "GA " in text.out
    # people read frame numbers from 1 (the JSON above keeps frame_index 0-based)
    assert "cine.dcm [frame 1 of 3]" in text.out and "cine.dcm [frame 3 of 3]" in text.out


def test_analyze_without_weights_reports_unavailable_and_exits_zero(png, tmp_path, capsys):
    code, data, text = _run_json([png], tmp_path, capsys)
    assert code == 0
    assert data["model"] is None and "weights install" in data["model_unavailable_reason"]
    frame = data["frames"][0]
    assert frame["plane_probs"] is None and frame["ga_days"] is None
    assert "no FetalCLIP weights" in frame["plane_unavailable_reason"]
    assert "unavailable" in text.out


def test_analyze_with_broken_weights_exits_2_with_a_message(png, tmp_path, capsys):
    broken = tmp_path / "FetalCLIP_weights.pt"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    code = main(["analyze", str(png), "--weights", str(broken)])
    err = capsys.readouterr().err
    assert code == 2
    assert "FetalCLIP_weights.pt is truncated or not a PyTorch checkpoint" in err
    assert "Traceback" not in err


def test_frame_extenders_add_fields(png, tmp_path, capsys, monkeypatch):
    from fetalviewer.commands import analyze

    def extender(record, context):
        record["image_shape"] = None if context.frame_input is None else list(context.frame_input.image.shape)

    monkeypatch.setattr(analyze, "FRAME_EXTENDERS", [*analyze.FRAME_EXTENDERS, extender])
    code, data, _ = _run_json([png], tmp_path, capsys)
    assert code == 0 and data["frames"][0]["image_shape"] == [60, 90]


def test_weights_install_and_status(tiny_weights, tiny_config, tmp_path, capsys, monkeypatch):
    from fetalviewer.model.weights import resolve_weights
    from fetalviewer.settings import load_settings

    assert main(["weights", "status"]) == 1
    assert "weights install" in capsys.readouterr().out
    assert main(["weights", "install", str(tiny_weights), "--config", str(tiny_config)]) == 0
    settings = load_settings()
    assert settings["weights_path"] == str(tiny_weights.resolve())
    assert settings["weights_size_bytes"] == tiny_weights.stat().st_size
    assert len(settings["weights_sha256"]) == 64
    capsys.readouterr()
    assert main(["weights", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["origin"] == "settings" and status["sha256"] == settings["weights_sha256"]
    assert status["licence"] == "CC BY-NC 4.0" and status["size_bytes"] == tiny_weights.stat().st_size
    # the installed weights (and their config) are used by analyze without --weights
    png = tmp_path / "x.png"
    Image.fromarray(np.zeros((30, 40), np.uint8)).save(png)
    code, data, _ = _run_json([png], tmp_path, capsys)
    assert code == 0 and data["model"]["weights_sha256"] == settings["weights_sha256"]
    # precedence: environment over settings, --weights over environment
    other = tmp_path / "other.pt"
    other.write_bytes(tiny_weights.read_bytes())
    monkeypatch.setenv("FETALVIEWER_WEIGHTS", str(other))
    assert resolve_weights().origin == "environment"
    assert resolve_weights(str(tiny_weights)).origin == "command line"


def test_weights_install_refuses_a_bad_file(tmp_path, capsys):
    from fetalviewer.settings import load_settings

    bad = tmp_path / "bad.pt"
    bad.write_text("nope")
    assert main(["weights", "install", str(bad)]) == 2
    assert "bad.pt is truncated or not a PyTorch checkpoint" in capsys.readouterr().err
    assert "weights_path" not in load_settings()


def test_bundled_weights_folder_is_the_last_resort(tmp_path, monkeypatch, tiny_weights):
    from fetalviewer.errors import WeightsNotFound
    from fetalviewer.model import weights

    folder = tmp_path / "install" / "weights"
    monkeypatch.setattr(weights, "bundled_weights_dir", lambda: folder)
    with pytest.raises(WeightsNotFound, match="weights install"):
        weights.resolve_weights()
    folder.mkdir(parents=True)
    (folder / "FetalCLIP_weights.pt").write_bytes(tiny_weights.read_bytes())
    location = weights.resolve_weights()
    assert location.origin == "bundled" and location.path.name == "FetalCLIP_weights.pt"


def test_a_corrupt_frame_is_reported_and_the_others_analysed(
    tmp_path, tiny_weights, tiny_config, capsys, monkeypatch
):
    from model_fixtures import write_us_dicom

    from fetalviewer.dicom.instance import CineLoop
    from fetalviewer.errors import FrameDecodeError

    path = write_us_dicom(tmp_path / "cine.dcm", np.zeros((3, 40, 50), np.uint8))
    real = CineLoop.frame

    def frame(self, index):
        if index == 1:
            raise FrameDecodeError(f"{self.path}: frame 1 is corrupt (simulated)")
        return real(self, index)

    monkeypatch.setattr(CineLoop, "frame", frame)
    code, data, _ = _run_json([path, "--weights", tiny_weights, "--config", tiny_config], tmp_path, capsys)
    assert code == 0
    assert [f["frame_index"] for f in data["frames"]] == [0, 2]
    assert any("frame 1" in p["message"] and "corrupt" in p["message"] for p in data["problems"])


def test_cuda_asked_for_without_a_gpu_is_a_clear_error(png, tiny_weights, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["analyze", str(png), "--weights", str(tiny_weights), "--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_weights_install_accepts_the_downloaded_folder(tiny_weights, tiny_config, tmp_path, capsys):
    import shutil

    from fetalviewer.settings import load_settings

    folder = tmp_path / "download"
    folder.mkdir()
    shutil.copy(tiny_weights, folder / "FetalCLIP_weights.pt")
    shutil.copy(tiny_config, folder / "FetalCLIP_config.json")
    assert main(["weights", "install", str(folder)]) == 0
    settings = load_settings()
    assert settings["weights_path"] == str((folder / "FetalCLIP_weights.pt").resolve())
    empty = tmp_path / "empty"
    empty.mkdir()
    capsys.readouterr()
    assert main(["weights", "install", str(empty)]) == 2
    assert "no weights file" in capsys.readouterr().err
