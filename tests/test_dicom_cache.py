"""Frame cache: memory bounded in bytes whatever the number of frames; read-ahead fills it."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from fetalviewer.dicom import open_instance
from fetalviewer.dicom.cache import FrameCache
from tests.dicom_reference import data_file, synthetic_cine, write_dataset


def test_cache_stays_within_budget_over_many_frames(tmp_path):
    ds, pixels = synthetic_cine(n_frames=60, rows=64, columns=64, rgb=True, seed=1)
    path = write_dataset(tmp_path / "long.dcm", ds)
    frame_bytes = 64 * 64 * 3
    loop = open_instance(path, cache_mb=8.5 * frame_bytes / (1024 * 1024))
    assert loop.cache_limit_bytes < 9 * frame_bytes
    peak = 0
    for i in range(60):
        assert np.array_equal(loop.frame(i), pixels[i])
        peak = max(peak, loop.cache_bytes)
    assert peak <= loop.cache_limit_bytes
    assert loop.cache_bytes == 8 * frame_bytes
    # Least recently used frames went first: the last eight remain.
    assert [loop.is_cached(i) for i in (51, 52, 59)] == [False, True, True]
    loop.frame(52)  # touch: now 53 is the oldest
    loop.frame(0)
    assert loop.is_cached(52) and not loop.is_cached(53)
    loop.close()
    assert loop.cache_bytes == 0


def test_frames_are_read_only_and_cached_object_is_reused():
    loop = open_instance(data_file("OBXXXX1A_2frame.dcm"))
    frame = loop.frame(1)
    assert loop.frame(1) is frame
    with pytest.raises(ValueError):
        frame[0, 0] = 0


def test_zero_cache_still_decodes():
    loop = open_instance(data_file("OBXXXX1A_2frame.dcm"), cache_mb=0)
    assert loop.frame(0).shape == (600, 800, 3)
    assert loop.cache_bytes == 0


def test_prefetch_decodes_ahead_and_matches_direct_decoding():
    path = data_file("examples_ybr_color.dcm")
    loop = open_instance(path)
    future = loop.prefetch(range(10, 20))
    future.result(timeout=60)
    assert all(loop.is_cached(i) for i in range(10, 20))
    assert not loop.is_cached(9) and not loop.is_cached(20)
    direct = open_instance(path, cache_mb=0)
    for i in (10, 15, 19):
        assert np.array_equal(loop.frame(i), direct.frame(i))


def test_prefetch_is_limited_to_what_the_cache_holds(tmp_path):
    ds, _ = synthetic_cine(n_frames=40, rows=32, columns=32, seed=2)
    loop = open_instance(write_dataset(tmp_path / "c.dcm", ds), cache_mb=10.5 * 1024 / (1024 * 1024))
    loop.prefetch(range(40)).result(timeout=60)
    cached = [i for i in range(40) if loop.is_cached(i)]
    assert cached == list(range(len(cached))) and 0 < len(cached) <= 10


def test_concurrent_readers_get_identical_frames():
    loop = open_instance(data_file("examples_ybr_color.dcm"))
    results: dict[int, list[np.ndarray]] = {i: [] for i in range(30)}
    errors: list[BaseException] = []

    def read_all():
        try:
            for i in range(30):
                results[i].append(loop.frame(i))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read_all) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    for frames in results.values():
        assert len(frames) == 3 and all(np.array_equal(frames[0], f) for f in frames)


def test_frame_cache_class_validates_and_evicts():
    with pytest.raises(ValueError, match="max_bytes"):
        FrameCache(-1)
    cache = FrameCache(100)
    a, b = np.zeros(60, np.uint8), np.zeros(50, np.uint8)
    cache.put(1, a)
    cache.put(2, b)
    assert cache.keys() == [2] and cache.bytes_used == 50
    cache.put(3, np.zeros(101, np.uint8))  # larger than the budget: not kept
    assert cache.keys() == [2]


def test_close_stops_reading_and_warm_up_imports_decoders():
    import sys

    from fetalviewer.dicom import warm_up
    from fetalviewer.errors import DicomReadError

    warm_up()
    assert "pydicom.pixels" in sys.modules
    loop = open_instance(data_file("examples_ybr_color.dcm"))
    loop.frame(0)
    loop.close()
    assert loop.prefetch(range(5)) is None
    with pytest.raises(DicomReadError, match="closed"):
        loop.frame(1)
    header = loop.dataset()  # the header stays readable
    assert "PixelData" not in header and header.Rows == 240
