"""InferenceService: background load with progress, batches, cancellation, OOM fallback, errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from fetalviewer.errors import WeightsNotFound
from fetalviewer.model.engine import AnalyzeOptions, FetalClipEngine
from fetalviewer.model.inputs import FrameInput
from fetalviewer.model.service import AnalyzeRequest, InferenceService

pytest_plugins = ["tests.model_fixtures"]


def _inputs(n: int) -> tuple[FrameInput, ...]:
    rng = np.random.default_rng(n)
    return tuple(
        FrameInput(
            f"img{i}.png", None, rng.integers(0, 256, (40, 50), dtype=np.uint8), None, "no pixel size: test"
        )
        for i in range(n)
    )


@pytest.fixture()
def service(tiny_weights, tiny_config):
    svc = InferenceService(str(tiny_weights), str(tiny_config), device="cpu", batch_size=2)
    yield svc
    svc.shutdown()


def test_background_load_reports_progress_and_model_info(service, tiny_weights):
    stages = []
    info = service.load(lambda p: stages.append((p.stage, p.done))).result(timeout=120)
    assert info.weights_path == str(tiny_weights.resolve())
    assert info.device == "cpu" and info.config_name == "FetalCLIP_tiny_test"
    names = [s for s, _ in stages]
    assert names[0] == "reading weights" and names[-1] == "ready"
    assert "checking sha256" in names and "building model" in names


def test_request_runs_in_batches_on_one_worker_thread(service):
    inputs = _inputs(5)
    progress, threads = [], set()

    def on_progress(p):
        threads.add(threading.current_thread().name)
        if p.request_id is not None:  # None: model-loading progress of the first request
            progress.append((p.request_id, p.done, p.total))

    got = []
    result = service.submit(
        AnalyzeRequest("r1", inputs, want_embeddings=True), on_progress, got.append
    ).result(60)
    assert result.error is None and not result.cancelled
    assert got == [result]
    assert [p[1] for p in progress] == [0, 2, 4, 5] and {p[0] for p in progress} == {"r1"}
    assert len(threads) == 1 and next(iter(threads)).startswith("fetalclip-worker")
    assert result.embeddings.shape == (5, 32) and result.batch_size == 2
    expected = service.engine.predict(list(inputs), AnalyzeOptions(batch_size=5))
    for got_pred, want in zip(result.predictions, expected, strict=True):  # batch 2 vs 5: float rounding only
        assert got_pred.source == want.source and got_pred.top_plane == want.top_plane
        for key, value in want.plane_probs.items():
            assert got_pred.plane_probs[key] == pytest.approx(value, abs=1e-5)


def test_cancel_between_batches_keeps_finished_frames(service):
    request = AnalyzeRequest("r2", _inputs(6))

    def on_progress(p):
        if p.request_id == "r2" and p.done >= 2:
            request.cancel()

    result = service.submit(request, on_progress).result(60)
    assert result.cancelled
    assert len(result.predictions) == 2


def test_out_of_memory_halves_the_batch(service, monkeypatch):
    import torch

    service.load().result(120)
    real = service.engine.embed_images
    sizes = []

    def flaky(images):
        sizes.append(len(images))
        if len(images) > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(images)

    monkeypatch.setattr(service.engine, "embed_images", flaky)
    result = service.submit(AnalyzeRequest("r3", _inputs(3), AnalyzeOptions(batch_size=4))).result(60)
    assert result.error is None and len(result.predictions) == 3
    assert sizes[:3] == [3, 2, 1] and result.batch_size == 1


def test_missing_weights_give_an_error_result_not_a_crash(tmp_path):
    svc = InferenceService(str(tmp_path / "none.pt"), device="cpu")
    try:
        with pytest.raises(WeightsNotFound, match="none.pt"):
            svc.load().result(60)
        result = svc.submit(AnalyzeRequest("r4", _inputs(1))).result(60)
        assert result.predictions == () and "none.pt" in result.error
    finally:
        svc.shutdown()


def test_call_runs_on_the_worker_with_the_engine(service):
    import torch

    def blocks(engine: FetalClipEngine):
        assert torch.is_inference_mode_enabled()
        return engine.loaded.encode_image_with_blocks(torch.zeros(1, 3, 224, 224), blocks=(6, 24))

    feats, maps = service.call(blocks).result(60)
    assert feats.shape == (1, 32) and sorted(maps) == [6, 24]
    emb = np.eye(3, 32, dtype=np.float32)
    order, scores = service.rank_by_text("fetal brain", emb).result(60)
    assert sorted(order.tolist()) == [0, 1, 2] and scores.shape == (3,)


def test_shutdown_cancels_queued_requests(tiny_weights, tiny_config):
    gate = threading.Event()
    svc = InferenceService(str(tiny_weights), str(tiny_config), device="cpu")
    blocker = svc.call(lambda engine: gate.wait(30))
    queued = svc.submit(AnalyzeRequest("r5", _inputs(1)))
    threading.Timer(0.5, gate.set).start()
    svc.shutdown(wait=True)
    assert blocker.result() is True
    assert queued.cancelled()
    with pytest.raises(RuntimeError, match="shut down"):
        svc.submit(AnalyzeRequest("r6", _inputs(1)))


def test_out_of_memory_at_batch_one_on_a_gpu_falls_back_to_the_cpu(service, monkeypatch):
    import torch

    service.load().result(120)
    loaded = service.engine.loaded
    real = service.engine.embed_images
    monkeypatch.setattr(loaded, "device", "cuda")  # pretend the model sits on a GPU
    moved = []
    monkeypatch.setattr(loaded, "to", lambda device: moved.append(device) or setattr(loaded, "device", device))

    def flaky(images):
        if loaded.device == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(images)

    monkeypatch.setattr(service.engine, "embed_images", flaky)
    result = service.submit(AnalyzeRequest("r7", _inputs(3), AnalyzeOptions(batch_size=2))).result(60)
    assert result.error is None and len(result.predictions) == 3
    assert moved == ["cpu"]
