"""The cine clock: true-time frame choice, trim, loop and sweep, speed (no Qt)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from fetalviewer.ui.playback_clock import PlaybackClock


def _clock(n=10, ft=40.0, start=0, stop=None, seq="loop", stamps=None):
    stamps = tuple(stamps) if stamps is not None else tuple(i * ft for i in range(n))
    return PlaybackClock(stamps, ft, start, n - 1 if stop is None else stop, seq)


def test_loop_follows_true_time_and_wraps():
    c = _clock()
    assert c.position_after(0, True, 0.0, 1.0) == (0, True)
    assert c.position_after(0, True, 39.9, 1.0) == (0, True)
    assert c.position_after(0, True, 40.0, 1.0) == (1, True)
    assert c.position_after(0, True, 399.0, 1.0) == (9, True)
    assert c.position_after(0, True, 400.0, 1.0) == (0, True)  # 10 frames x 40 ms
    # A late tick skips frames instead of showing them late.
    assert c.position_after(2, True, 170.0, 1.0) == (6, True)


def test_speed_scales_media_time():
    c = _clock()
    assert c.position_after(0, True, 40.0, 2.0) == (2, True)
    assert c.position_after(0, True, 40.0, 0.25) == (0, True)
    assert c.position_after(0, True, 160.0, 0.25) == (1, True)
    with pytest.raises(ValueError, match="speed"):
        c.position_after(0, True, 1.0, 0.0)


def test_trim_range_is_what_plays():
    c = _clock(n=20, start=5, stop=9)
    assert c.position_after(5, True, 0.0, 1.0) == (5, True)
    assert c.position_after(5, True, 199.0, 1.0) == (9, True)
    assert c.position_after(5, True, 200.0, 1.0) == (5, True)
    # Starting outside the range clamps into it.
    assert c.position_after(0, True, 0.0, 1.0)[0] == 5


def test_sweep_goes_back_and_forth():
    c = _clock(n=4, seq="sweep")  # forward pass 160 ms
    seen = [c.position_after(0, True, t, 1.0) for t in range(0, 320, 20)]
    frames = [f for f, _ in seen]
    assert frames[:8] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert frames[8:] == [3, 3, 2, 2, 1, 1, 0, 0]
    assert seen[9][1] is False and seen[1][1] is True
    # Resuming backwards from frame 2 goes down.
    assert c.position_after(2, False, 45.0, 1.0) == (1, False)


def test_non_uniform_timestamps_from_frame_time_vector():
    c = _clock(n=4, ft=10.0, stamps=(0.0, 10.0, 50.0, 60.0))
    assert c.position_after(0, True, 49.0, 1.0)[0] == 1
    assert c.position_after(0, True, 50.0, 1.0)[0] == 2
    assert c.range_duration_ms == pytest.approx(70.0)


def test_from_timing_and_validation():
    timing = SimpleNamespace(timestamps_ms=[0.0, 33.3, 66.6], frame_time_ms=33.3, start_trim=None,
                             stop_trim=None, sequencing="sweep")
    c = PlaybackClock.from_timing(timing, 3)
    assert (c.start_frame, c.stop_frame, c.sequencing) == (0, 2, "sweep")
    timing.timestamps_ms = []  # inconsistent length: rebuilt from the nominal frame time
    assert PlaybackClock.from_timing(timing, 5).timestamps_ms[4] == pytest.approx(133.2)
    with pytest.raises(ValueError, match="non-decreasing"):
        PlaybackClock((0.0, 5.0, 3.0), 1.0, 0, 2)
    with pytest.raises(ValueError, match="start_frame"):
        PlaybackClock((0.0, 5.0), 1.0, 1, 0)
    with pytest.raises(ValueError, match="sequencing"):
        PlaybackClock((0.0,), 1.0, 0, 0, "bounce")
