"""``fetalviewer analyze --best-frames --search TEXT`` on a study folder, with the tiny random-weight model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from fetalviewer import cli
from fetalviewer.paths import sample_study_dir
from tests.model_fixtures import TINY_CONFIG, save_official, tiny_state_dict


@pytest.fixture(scope="module")
def tiny_weights_file(tmp_path_factory):
    return save_official(tiny_state_dict(seed=5), tmp_path_factory.mktemp("ws-cli") / "tiny.pt")


@pytest.fixture
def study_folder(tmp_path):
    folder = tmp_path / "study"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(get_testdata_file("OBXXXX1A.dcm"), folder / "a.dcm")
    still = sample_study_dir() / "US_still_254_HC.dcm"
    if not still.exists():
        pytest.skip("bundled sample missing")
    shutil.copy(still, folder / "sub" / "b.dcm")
    (folder / "notes.txt").write_text("not DICOM")
    return folder


def run_analyze(args, capsys):
    status = cli.main(["analyze", *args])
    return status, capsys.readouterr()


def test_best_frames_and_search_from_one_call_then_cached(
    study_folder, tiny_weights_file, tmp_path, capsys, monkeypatch
):
    from fetalviewer.workspace import fetalclip_backend

    calls = []
    original = fetalclip_backend.FetalClipBackend.analyze_frames

    def counting(self, frames, pixel_size_mm):
        calls.append(len(frames))
        return original(self, frames, pixel_size_mm)

    monkeypatch.setattr(fetalclip_backend.FetalClipBackend, "analyze_frames", counting)
    out_json = tmp_path / "out.json"
    common = ["--weights", str(tiny_weights_file), "--config", str(TINY_CONFIG)]
    status, captured = run_analyze(
        [
            str(study_folder),
            *common,
            "--best-frames",
            "--search",
            "stomach bubble",
            "--top",
            "2",
            "--json",
            str(out_json),
            "--heatmap",
            str(tmp_path / "heat"),
        ],
        capsys,
    )
    assert status == 0, captured.err
    assert sum(calls) == 2  # both instances, one frame each
    data = json.loads(out_json.read_text())
    assert {i["frames_analysed"] for i in data["instances"]} == {1}
    assert len(data["best_frames"]) == 9
    best = max(data["best_frames"].items(), key=lambda kv: kv[1]["prob_0_1"])
    assert best[1]["prob_0_1"] > 1 / 9
    hits = data["search"]["stomach bubble"]
    assert [h["rank"] for h in hits] == [1, 2]
    assert hits[0]["score_cos"] >= hits[1]["score_cos"]
    assert {h["file"] for h in hits} == {"a.dcm", "b.dcm"}
    assert [c["plane"] for c in data["checklist"]["items"] if not c["required"]] == ["cervix"]
    assert "model output" in data["value_source"]
    # the per-frame records of plain 'analyze' come along (0-based frame_index, as in every JSON)
    assert sorted((Path(f["source"]).name, f["frame_index"]) for f in data["frames"]) == [("a.dcm", 0), ("b.dcm", 0)]
    assert all(f["top_plane"] in data["best_frames"] and abs(sum(f["plane_probs"].values()) - 1) < 1e-4
               for f in data["frames"])  # fmt: skip
    assert "a.dcm frame 1 of 1" in captured.out or "b.dcm frame 1 of 1" in captured.out  # 1-based for people
    pngs = sorted((tmp_path / "heat").glob("*.png"))
    assert len(pngs) == 9 and {h["plane"] for h in data["heatmaps"]} == set(data["best_frames"])
    from PIL import Image

    with Image.open(pngs[0]) as img:
        assert img.mode == "RGB" and img.size in ((800, 600), (640, 480))
    assert "Best frame per plane" in captured.out and "Search “stomach bubble”" in captured.out

    # the second call reads the result cache: no frame goes through the model again
    calls.clear()
    status, captured = run_analyze([str(study_folder), *common, "--best-frames", "--json", "-"], capsys)
    assert status == 0 and calls == []
    again = json.loads(captured.out)
    assert again["best_frames"] == data["best_frames"]


def test_without_weights_says_how_to_install(study_folder, capsys):
    status, captured = run_analyze([str(study_folder), "--best-frames"], capsys)
    assert status == 2
    assert "weights" in captured.err and "install" in captured.err


def test_bad_options_are_refused(study_folder, tiny_weights_file, capsys):
    status, captured = run_analyze([str(study_folder), "--search", "x", "--top", "0"], capsys)
    assert status == 2 and "--top" in captured.err
