"""Plain ``fetalviewer analyze`` runs through the window's study runner and shares its result cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fetalviewer.cli import main

pytest_plugins = ["tests.model_fixtures"]

#: the FramePrediction fields of an analyze record (plus the frame's place)
FIELDS = (
    "source", "frame_index", "plane_probs", "top_plane", "top_prob_0_1", "brain_subplane_probs", "ga_days",
    "ga_unavailable_reason", "pixel_spacing_mm", "ga_pixel_spacing", "crop_box_px", "model", "notes",
)


def _analyze(args, tmp_path, capsys):
    out = tmp_path / "out.json"
    out.unlink(missing_ok=True)
    assert main(["analyze", *map(str, args), "--json", str(out)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return json.loads(out.read_text())


def _fields(records):
    return [{k: r[k] for k in FIELDS} for r in records]


def test_analyze_and_the_window_read_the_same_records_from_one_cache(
    tmp_path, tiny_weights, tiny_config, capsys, one_torch_thread
):
    from model_fixtures import write_us_dicom

    from fetalviewer.dicom import open_instance
    from fetalviewer.model.engine import AnalyzeOptions
    from fetalviewer.model.inputs import frame_inputs_from_cine
    from fetalviewer.workspace.cache import AnalysisCache
    from fetalviewer.workspace.fetalclip_backend import FetalClipBackend
    from fetalviewer.workspace.study_analysis import StudyAnalysis, target_from_cine
    from fetalviewer.workspace.study_run import ModelSession, frame_predictions

    path = write_us_dicom(
        tmp_path / "cine.dcm", np.random.default_rng(3).integers(0, 256, (4, 60, 80), dtype=np.uint8)
    )
    model = ["--weights", tiny_weights, "--config", tiny_config, "--device", "cpu"]

    # 1. the window's runner analyses the study (its targets, backend, StudyAnalysis and the shared cache)
    with ModelSession(str(tiny_weights), str(tiny_config), device="cpu") as session:
        session.load()
        engine = session.service.engine
        backend = FetalClipBackend(engine.loaded, engine, defer_uncached_ga=True)  # as the window's worker
        cine = open_instance(path)
        target = target_from_cine(cine)
        job = StudyAnalysis(1, [target], backend, AnalysisCache())
        session.service.call(lambda _engine: job.run()).result()
        assert backend.frames_analysed == 4
        window = [
            p.to_dict()
            for p in frame_predictions(
                job.results[target.sop_instance_uid], str(path), engine.info.output_label, target=target, backend=backend
            )
        ]
        # the engine's own read-out of the same frames, to compare values with
        reference = session.service.call(
            lambda engine: engine.predict(
                frame_inputs_from_cine(cine), AnalyzeOptions(head_readouts_for_all_frames=True)
            )
        ).result()
        cine.close()
    window = json.loads(json.dumps(window))  # as JSON carries it

    # 2. analyze finds everything in the cache: zero forward passes, the window's records
    data = _analyze([path, *model], tmp_path, capsys)
    assert data["timings"]["frames_analysed"] == 0 and data["timings"]["frames_from_cache"] == 4
    assert _fields(data["frames"]) == _fields(window)
    assert [f["frame_index"] for f in data["frames"]] == [0, 1, 2, 3]

    # 3. other options change the outputs, so they are cached apart and never mixed with the window's
    all_heads = _analyze([path, *model, "--head-readouts-all-frames", "--step", "2"], tmp_path, capsys)
    assert all_heads["timings"]["frames_analysed"] == 2 and all_heads["timings"]["frames_from_cache"] == 0
    for record, ref in zip(all_heads["frames"], reference[::2], strict=True):  # the engine's own values
        assert record["plane_probs"] == pytest.approx(ref.plane_probs, abs=1e-5)
        assert record["brain_subplane_probs"] == pytest.approx(ref.brain_subplane_probs, abs=1e-5)
        assert (record["ga_days"], record["ga_pixel_spacing"]) == (ref.ga_days, ref.ga_pixel_spacing)
        assert record["pixel_spacing_mm"] == pytest.approx(0.2)
        assert record["crop_box_px"] == list(ref.crop_box_px) and record["notes"] == list(ref.notes)
    no_crop = _analyze([path, *model, "--no-crop"], tmp_path, capsys)
    assert no_crop["timings"]["frames_analysed"] == 4
    assert {f["crop_box_px"] for f in no_crop["frames"]} == {None}

    # 4. a second default run still performs no forward pass and gives the same records
    again = _analyze([path, *model], tmp_path, capsys)
    assert again["timings"]["frames_analysed"] == 0
    assert _fields(again["frames"]) == _fields(window)
