"""Workspace core (Qt-free): schedule, results, cache, study analysis, search, findings, heat map."""

from __future__ import annotations

import numpy as np
import pytest

from fetalviewer.workspace.backend import FrameBatchOutput
from fetalviewer.workspace.cache import AnalysisCache, CacheKey, file_fingerprint
from fetalviewer.workspace.findings import best_frames, exam_checklist
from fetalviewer.workspace.heatmap import heatmap_for_frame, map_to_image
from fetalviewer.workspace.results import InstanceAnalysis
from fetalviewer.workspace.schedule import first_pass_indices, first_pass_stride, refinement_indices
from fetalviewer.workspace.search import search_frames
from fetalviewer.workspace.study_analysis import AnalysisTarget, StudyAnalysis

PLANES = ("abdomen", "brain", "femur", "heart", "kidney", "lips_nose", "profile_patient", "spine", "cervix")
BRAIN = ("trans-thalamic", "trans-cerebellum", "trans-ventricular")


class CountingBackend:
    """A deterministic stand-in model: the embedding of a frame depends on its pixel value only."""

    plane_keys = PLANES
    brain_keys = BRAIN
    embed_dim = 8
    identity = "fake-weights|fake-prompts"

    def __init__(self):
        self.calls = 0
        self.frames_seen = 0
        rng = np.random.default_rng(0)
        self.class_emb = rng.normal(size=(len(PLANES), self.embed_dim))
        self.class_emb /= np.linalg.norm(self.class_emb, axis=1, keepdims=True)

    def embed_value(self, value: float) -> np.ndarray:
        v = np.array([np.cos(value * 0.05 * (k + 1)) + 0.1 * k for k in range(self.embed_dim)])
        return (v / np.linalg.norm(v)).astype(np.float32)

    def analyze_frames(self, frames, pixel_size_mm):
        self.calls += 1
        self.frames_seen += len(frames)
        emb = np.stack([self.embed_value(float(f.mean())) for f in frames])
        logits = 20 * emb @ self.class_emb.T
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        brain = np.full((len(frames), 3), 1 / 3, np.float32)
        ga = np.full(len(frames), 150.0 if pixel_size_mm else np.nan, np.float32)
        maps = np.zeros((len(frames), len(PLANES), 16, 16), np.float32)
        maps[:, :, 4, 12] = 1.0
        return FrameBatchOutput(emb, probs.astype(np.float32), brain, ga, maps)

    def embed_text(self, text):
        return self.embed_value(float(len(text)))


def fake_reader(values):
    def reader(target):
        return (lambda i: np.full((6, 10), values[i], np.uint8)), (lambda: None)

    return reader


def make_target(tmp_path, name="a.dcm", n=30, uid="1.2.3.1"):
    path = tmp_path / name
    path.write_bytes(b"DICM" + bytes(range(200)) * 10)
    return AnalysisTarget(str(path), uid, n, pixel_size_mm=0.2, label=name)


def test_schedule_covers_every_frame_once_coarse_first():
    stride = first_pass_stride(120, 12)
    assert stride == 10
    first = first_pass_indices(120, stride)
    assert first[:3] == [0, 10, 20] and first[-1] == 119
    rest = refinement_indices(120, stride)
    assert sorted(first + rest) == list(range(120))
    assert rest[:2] == [5, 15]  # midpoints come before neighbours
    assert first_pass_indices(1, 1) == [0] and refinement_indices(1, 1) == []
    with pytest.raises(ValueError, match="n_frames"):
        first_pass_stride(0, 12)


def test_study_analysis_first_pass_then_fill_and_cache_hit(tmp_path):
    backend = CountingBackend()
    cache = AnalysisCache(tmp_path / "cache")
    targets = [make_target(tmp_path, "a.dcm", 30, "1.2.3.1"), make_target(tmp_path, "b.dcm", 1, "1.2.3.2")]
    values = list(range(0, 240, 8))
    updates, progress = [], []
    job = StudyAnalysis(
        7, targets, backend, cache, first_pass_frames=5, batch_size=4, frame_reader=fake_reader(values)
    )
    results = job.run(updates.append, progress.append)
    assert all(r.is_complete for r in results.values())
    assert backend.frames_seen == 31
    # the first pass reaches the second instance before the fill pass of the first one
    order = [(u.sop_instance_uid, u.analysis.n_done) for u in updates]
    first_b = next(k for k, (uid, _) in enumerate(order) if uid == "1.2.3.2")
    assert order[first_b - 1][1] < 30
    assert {u.request_id for u in updates} == {7}
    assert progress[-1].phase == "done" and progress[-1].frames_done == 31
    assert not np.isnan(results["1.2.3.1"].plane_probs).any()
    # reopening: everything from the cache, no inference at all
    backend2 = CountingBackend()
    updates2 = []
    results2 = StudyAnalysis(8, targets, backend2, cache, frame_reader=fake_reader(values)).run(
        updates2.append
    )
    assert backend2.calls == 0
    assert all(u.from_cache for u in updates2)
    np.testing.assert_array_equal(results2["1.2.3.1"].embeddings, results["1.2.3.1"].embeddings)


def test_cancel_keeps_partial_results_and_resume(tmp_path):
    backend = CountingBackend()
    cache = AnalysisCache(tmp_path / "cache")
    target = make_target(tmp_path, n=40)
    job = StudyAnalysis(
        1,
        [target],
        backend,
        cache,
        first_pass_frames=4,
        batch_size=2,
        frame_reader=fake_reader(list(range(40))),
    )

    def on_update(update):
        if update.analysis.n_done >= 6:
            job.cancel()

    results = job.run(on_update)
    partial = results[target.sop_instance_uid].n_done
    assert 6 <= partial < 40
    backend2 = CountingBackend()
    results2 = StudyAnalysis(2, [target], backend2, cache, frame_reader=fake_reader(list(range(40)))).run()
    assert results2[target.sop_instance_uid].is_complete
    assert backend2.frames_seen == 40 - partial


def test_cache_discards_corrupt_record_and_changed_file(tmp_path, caplog):
    target = make_target(tmp_path, n=3)
    cache = AnalysisCache(tmp_path / "cache")
    key = CacheKey.for_file(target.sop_instance_uid, target.path, "m1")
    analysis = InstanceAnalysis(target.sop_instance_uid, 3, PLANES, BRAIN, 8)
    cache.save(key, analysis)
    assert cache.load(key) is not None
    assert cache.load(CacheKey(key.sop_instance_uid, key.file_fingerprint, "m2")) is None
    cache.path_for(key).write_bytes(b"not an npz")
    assert cache.load(key) is None
    assert not cache.path_for(key).exists()
    assert "unreadable" in caplog.text
    before = file_fingerprint(target.path)
    with open(target.path, "ab") as fh:
        fh.write(b"x")
    assert file_fingerprint(target.path) != before


def test_search_ranks_matching_frame_first_and_separates_neighbours(tmp_path):
    backend = CountingBackend()
    values = [float(v) for v in range(0, 200, 5)]
    target = make_target(tmp_path, n=len(values))
    results = StudyAnalysis(1, [target], backend, None, frame_reader=fake_reader(values)).run()
    query = backend.embed_value(values[17])
    hits = search_frames(query, results, top_k=3, min_separation_frames=3)
    assert hits[0].frame_index == 17 and hits[0].score_cos == pytest.approx(1.0, abs=1e-5)
    assert [h.rank for h in hits] == [1, 2, 3]
    assert all(abs(h.frame_index - 17) >= 3 for h in hits[1:])
    assert hits[0].score_cos >= hits[1].score_cos >= hits[2].score_cos
    with pytest.raises(ValueError, match="text_embedding"):
        search_frames(np.zeros(8), results)


def test_best_frames_and_checklist():
    a = InstanceAnalysis("u1", 3, PLANES, BRAIN, 4)
    probs = np.full((3, 9), 0.01, np.float32)
    probs[0, 1], probs[1, 3], probs[2, 1] = 0.9, 0.4, 0.6
    a.store(
        [0, 1, 2],
        plane_probs=probs,
        brain_probs=np.zeros((3, 3)),
        ga_days=np.zeros(3),
        embeddings=np.ones((3, 4)),
    )
    best = best_frames({"u1": a})
    assert best["brain"].frame_index == 0 and best["brain"].prob_0_1 == pytest.approx(0.9)
    assert best["heart"].frame_index == 1
    items = {i.plane_key: i for i in exam_checklist(best, 0.5)}
    assert items["brain"].found and not items["heart"].found and not items["cervix"].required
    reading = a.frame_reading(2)
    assert reading.plane_key == "brain" and not reading.is_uncertain(0.5) and reading.is_uncertain(0.7)


def test_heatmap_maps_patch_back_to_original_pixels():
    grid = np.zeros((16, 16), np.float32)
    grid[8, 0] = 1.0  # left-most column, just below the middle of the padded square
    out = map_to_image(grid, 100, 200)  # rows < cols: padding of 50 rows top and bottom
    assert out.shape == (100, 200)
    r, c = np.unravel_index(np.argmax(out), out.shape)
    # cell (8, 0) has its centre at padded row (8 + 0.5) * 200 / 16 = 106.25, i.e. original row 56.25
    assert abs(r - 56) <= 1 and c <= 6
    maps = np.zeros((9, 16, 16), np.float32)
    maps[3, 2, 13] = 1.0
    heat = heatmap_for_frame(maps, 3, 64, 64)
    assert heat.max() == pytest.approx(1.0) and heat.min() == pytest.approx(0.0)
    r, c = np.unravel_index(np.argmax(heat), heat.shape)
    assert r < 16 and c > 48
    with pytest.raises(ValueError, match="NaN"):
        heatmap_for_frame(np.full((9, 16, 16), np.nan), 0, 8, 8)


def test_heatmap_placed_back_into_the_crop_box():
    maps = np.zeros((9, 16, 16), np.float32)
    maps[0, 0, 0] = 1.0  # top-left patch of the crop
    heat = heatmap_for_frame(maps, 0, 100, 120, crop_box_px=(20, 10, 83, 73))  # 64 x 64 crop
    assert heat[:10].max() == 0.0 and heat[:, :20].max() == 0.0 and heat[:, 84:].max() == 0.0
    r, c = np.unravel_index(np.argmax(heat), heat.shape)
    assert 10 <= r <= 13 and 20 <= c <= 23


def test_target_from_real_cine_uses_the_engine_crop_and_pixel_size():
    from pydicom.data import get_testdata_file

    from fetalviewer.dicom import open_instance
    from fetalviewer.workspace.study_analysis import target_from_cine

    cine = open_instance(get_testdata_file("color3d_jpeg_baseline.dcm"))
    try:
        target = target_from_cine(cine)
    finally:
        cine.close()
    assert target.n_frames == 120 and target.sop_instance_uid == cine.sop_instance_uid
    region = cine.regions[0]
    assert target.crop_box_px == (region.x0, region.y0, region.x1, region.y1)
    if target.pixel_size_mm is None:
        assert target.ga_unavailable_reason
    else:
        assert target.pixel_size_mm == pytest.approx(region.mm_per_px_x)


def test_badge_text_marks_model_output_uncertainty_subplane_and_ga_band():
    from fetalviewer.analysis.estimate import format_weeks_days
    from fetalviewer.model.readout import who_hc_percentile_mm
    from fetalviewer.workspace.badge_text import badge_text
    from fetalviewer.workspace.results import FrameReading

    names = {"brain": "Brain", "heart": "Thorax / heart", "trans-thalamic": "Trans-thalamic"}
    head = FrameReading(7, "brain", 0.82, "trans-thalamic", 0.64, 156.0)
    text = badge_text(head, 0.5, names)
    lo, hi = who_hc_percentile_mm(156.0, "p2.5"), who_hc_percentile_mm(156.0, "p97.5")
    assert text.title == "Brain 82%" and not text.uncertain
    assert "Trans-thalamic 64%" in text.lines
    assert f"Model GA 22w 2d → WHO HC {lo:.0f}–{hi:.0f} mm (P2.5–97.5)" in text.lines
    assert text.lines[-1].startswith("AI · FetalCLIP")
    assert format_weeks_days(156) == "22w 2d" and 150 < lo < hi < 220

    heart = FrameReading(3, "heart", 0.41, None, None, None)
    text = badge_text(heart, 0.5, names, shown_frame=5, user_label="brain")
    assert text.title == "Thorax / heart 41% · uncertain" and text.uncertain and text.approximate
    assert "User label: Brain" in text.lines and not any("GA" in line for line in text.lines)
    no_cal = badge_text(
        FrameReading(1, "brain", 0.9, None, None, None), 0.5, names, ga_unavailable_reason="no pixel size"
    )
    assert "Model GA unavailable: no pixel size" in no_cal.lines


class NormBackend(CountingBackend):
    """Like CountingBackend, and reports the norm of each frame's un-normalised embedding (1 + value)."""

    def analyze_frames(self, frames, pixel_size_mm):
        import dataclasses

        out = super().analyze_frames(frames, pixel_size_mm)
        norms = np.array([1.0 + float(f.mean()) for f in frames], np.float32)
        return dataclasses.replace(out, embedding_norms=norms)


def test_raw_embeddings_are_kept_through_the_cache_and_old_records_are_recomputed(tmp_path, monkeypatch):
    import fetalviewer.workspace.cache as cache_module

    values = [3.0, 40.0, 77.0, 120.0]
    target = make_target(tmp_path, n=4)
    cache = AnalysisCache(tmp_path / "cache")
    backend = NormBackend()
    results = StudyAnalysis(1, [target], backend, cache, frame_reader=fake_reader(values)).run()
    analysis = results[target.sop_instance_uid]
    expected = np.stack([backend.embed_value(v) * (1.0 + v) for v in values])
    np.testing.assert_allclose(analysis.raw_embeddings([0, 1, 2, 3]), expected, rtol=1e-5)
    np.testing.assert_allclose(analysis.snapshot().raw_embeddings([2]), expected[[2]], rtol=1e-5)
    backend2 = NormBackend()
    cached = StudyAnalysis(2, [target], backend2, cache, frame_reader=fake_reader(values)).run()
    assert backend2.calls == 0
    np.testing.assert_allclose(cached[target.sop_instance_uid].raw_embeddings([1, 3]), expected[[1, 3]], rtol=1e-5)

    # frames analysed without their norm (or not analysed) have no raw embedding: said, not guessed
    partial = InstanceAnalysis("1.2.9", 3, PLANES, BRAIN, 8)
    partial.store([0], plane_probs=np.full((1, 9), 1 / 9), brain_probs=np.full((1, 3), 1 / 3),
                  ga_days=np.full(1, np.nan), embeddings=np.ones((1, 8)))
    with pytest.raises(ValueError, match=r"frames \[0, 1\] of 1.2.9 have no un-normalised embedding"):
        partial.raw_embeddings([0, 1])

    # a record written by the previous cache format (normalised embeddings only) is not reused
    other = make_target(tmp_path, "old.dcm", n=4, uid="1.2.3.9")
    monkeypatch.setattr(cache_module, "FORMAT_VERSION", 1)
    StudyAnalysis(3, [other], CountingBackend(), cache, frame_reader=fake_reader(values)).run()
    monkeypatch.undo()
    backend3 = NormBackend()
    fresh = StudyAnalysis(4, [other], backend3, cache, frame_reader=fake_reader(values)).run()
    assert backend3.frames_seen == 4
    assert np.isfinite(fresh[other.sop_instance_uid].embedding_norms).all()


def test_heatmap_rgba_is_the_coloured_heat_map_and_checks_its_arguments():
    from fetalviewer.workspace.heatmap import heatmap_rgba

    maps = np.zeros((len(PLANES), 16, 16), np.float32)
    maps[2, 3, 5] = 1.0
    lut = np.stack([np.arange(256)] * 3, axis=1).astype(np.uint8)
    rgba = heatmap_rgba(maps, 2, 40, 60, (5, 4, 44, 35), lut, 150)
    heat = heatmap_for_frame(maps, 2, 40, 60, (5, 4, 44, 35))
    assert rgba.shape == (40, 60, 4) and rgba.dtype == np.uint8
    np.testing.assert_array_equal(rgba[..., 0], (heat * 255).astype(np.uint8))
    np.testing.assert_array_equal(rgba[..., 3], (heat**1.5 * 150).astype(np.uint8))
    assert rgba[..., 3].max() == 150 and rgba[:4, :, 3].max() == 0  # opaque at the peak, 0 outside the crop
    with pytest.raises(ValueError, match="lut_rgb"):
        heatmap_rgba(maps, 2, 40, 60, None, lut[:10], 150)
    with pytest.raises(ValueError, match="max_alpha"):
        heatmap_rgba(maps, 2, 40, 60, None, lut, 300)
