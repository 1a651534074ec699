"""GA text embeddings for a new pixel-spacing string never hold back the plane labels in the workspace: every
frame gets its plane labels first, then the 875 GA prompts are encoded and the GA filled in from the stored
embeddings, with exactly the values of an analysis that computed the GA at once."""

from __future__ import annotations

import numpy as np
import pytest

pytest_plugins = ["tests.model_fixtures"]

#: With tiny random weights of this seed, the magenta frame's top plane is ``brain`` (checked below).
SEED = 2


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield


def _frames() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    levels = [(r, g, b) for r in (0, 128, 255) for g in (0, 255) for b in (0, 255)]
    frames = [np.full((40, 60, 3), c, np.uint8) for c in levels]
    return frames + [rng.integers(0, 256, (40, 60, 3), dtype=np.uint8) for _ in range(4)]


def test_plane_labels_first_then_ga_equal_to_the_undeferred_readout(tmp_path):
    from model_fixtures import TINY_CONFIG, save_official, tiny_state_dict

    from fetalviewer.model.loader import load_checkpoint
    from fetalviewer.workspace.fetalclip_backend import FetalClipBackend
    from fetalviewer.workspace.study_analysis import AnalysisTarget, StudyAnalysis

    weights = save_official(tiny_state_dict(SEED), tmp_path / "tiny.pt")
    frames = _frames()
    backend = FetalClipBackend(load_checkpoint(weights, TINY_CONFIG, device="cpu"), defer_uncached_ga=True)
    cache = backend.engine.text_cache
    target = AnalysisTarget(str(tmp_path / "cine.dcm"), "1.2.3.4", len(frames), pixel_size_mm=0.2)
    done_counts: list[int] = []
    encodings: list[tuple[str, int]] = []
    cache.on_encode = lambda what, _n: encodings.append((what, done_counts[-1] if done_counts else 0))

    def reader(_target):
        return (lambda i: frames[i]), (lambda: None)

    # the engine alone: an uncached spacing string defers the GA (only the GA), encoding nothing
    from fetalviewer.model.engine import GA_DEFERRED_REASON, AnalyzeOptions
    from fetalviewer.model.inputs import FrameInput

    item = FrameInput("x.png", None, frames[0], 0.2, "given")
    options = AnalyzeOptions(head_readouts_for_all_frames=True, defer_uncached_ga=True)
    deferred = backend.engine.predict_embeddings([item], backend.engine.embed_images([frames[0]]), options)[0]
    assert deferred.ga_days is None and deferred.ga_unavailable_reason == GA_DEFERRED_REASON
    assert deferred.brain_subplane_probs is not None
    assert not cache.has_ga_template_means(deferred.ga_pixel_spacing)
    assert not [what for what, _ in encodings if "GA prompts" in what]

    job = StudyAnalysis(1, [target], backend, None, first_pass_frames=4, batch_size=1, frame_reader=reader)
    ga_before_complete: list[bool] = []

    def on_update(update):
        done_counts.append(update.analysis.n_done)
        ga_before_complete.append(bool(np.isfinite(update.analysis.ga_days).any()))

    result = job.run(on_update)[target.sop_instance_uid]

    brain = backend.plane_keys.index("brain")
    head = np.argmax(result.plane_probs, axis=1) == brain
    assert head.any(), "the test frames must include a head view"
    ga_encodings = [n_done for what, n_done in encodings if "GA prompts" in what]
    assert ga_encodings == [len(frames)], (
        "the GA prompts are encoded once, after every frame has its plane labels"
    )
    first_complete = done_counts.index(len(frames))
    assert not any(ga_before_complete[: first_complete + 1]), "no GA before the plane labels are complete"
    assert np.isfinite(result.ga_days[head]).all() and np.isnan(result.ga_days[~head]).all()
    assert cache.has_ga_template_means(deferred.ga_pixel_spacing)

    # the same frames through a backend that computes the GA at once (text cache now warm): identical values
    plain = FetalClipBackend(load_checkpoint(weights, TINY_CONFIG, device="cpu"))
    outs = [plain.analyze_frames([frame], 0.2) for frame in frames]  # batch 1 as the job ran: same arithmetic
    np.testing.assert_array_equal(np.concatenate([o.ga_days for o in outs]), result.ga_days)
    np.testing.assert_array_equal(np.concatenate([o.plane_probs for o in outs]), result.plane_probs)
    np.testing.assert_array_equal(np.concatenate([o.embeddings for o in outs]), result.embeddings)
