"""True-time cine clock: which frame is due after a given wall-clock time (Qt-free logic).

Playback follows the file's own timing (``FrameTiming.timestamps_ms``, the per-frame start times
resolved by the DICOM engine with the precedence of PS3.3 C.7.6.5 (docs/dicom.md): FrameTimeVector ->
FrameTime -> CineRate -> RecommendedDisplayFrameRate -> default). The clock maps elapsed wall time
(scaled by the speed) to a media time and then to the frame shown at that media time, so a slow
decoder makes frames be skipped (dropped) instead of making the whole loop run late.

Only the frames between ``start_trim`` and ``stop_trim`` (inclusive, 0-based; PS3.3 C.7.6.5
StartTrim/StopTrim) are played. ``sequencing`` is "loop" (restart at the first frame) or "sweep"
(play forwards then backwards; PreferredPlaybackSequencing 1).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

SPEEDS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class PlaybackClock:
    """The media timeline of the played range of one cine.

    ``timestamps_ms`` are the start times of every frame of the file (first 0, non-decreasing);
    ``frame_time_ms`` is the nominal duration used for the last frame of the range.
    """

    timestamps_ms: tuple[float, ...]
    frame_time_ms: float
    start_frame: int
    stop_frame: int
    sequencing: str = "loop"

    def __post_init__(self) -> None:
        n = len(self.timestamps_ms)
        if n < 1:
            raise ValueError("timestamps_ms must hold at least one frame time")
        if any(b < a for a, b in zip(self.timestamps_ms, self.timestamps_ms[1:], strict=False)):
            raise ValueError("timestamps_ms must be non-decreasing")
        if not self.frame_time_ms > 0:
            raise ValueError(f"frame_time_ms must be > 0, got {self.frame_time_ms!r}")
        if not 0 <= self.start_frame <= self.stop_frame < n:
            raise ValueError(
                f"start_frame/stop_frame must satisfy 0 <= start <= stop < {n}, "
                f"got {self.start_frame}, {self.stop_frame}"
            )
        if self.sequencing not in ("loop", "sweep"):
            raise ValueError(f"sequencing must be 'loop' or 'sweep', got {self.sequencing!r}")

    @classmethod
    def from_timing(cls, timing, n_frames: int) -> PlaybackClock:
        """Build the clock from a contract ``FrameTiming`` and the instance's frame count."""
        stamps: Sequence[float] = tuple(timing.timestamps_ms or ())
        frame_time_ms = float(timing.frame_time_ms or 0) or 1000.0 / 30.0
        if len(stamps) != n_frames:
            stamps = tuple(i * frame_time_ms for i in range(n_frames))
        start = int(timing.start_trim) if timing.start_trim is not None else 0
        stop = int(timing.stop_trim) if timing.stop_trim is not None else n_frames - 1
        start = min(max(start, 0), n_frames - 1)
        stop = min(max(stop, start), n_frames - 1)
        seq = timing.sequencing if timing.sequencing in ("loop", "sweep") else "loop"
        return cls(tuple(float(s) for s in stamps), frame_time_ms, start, stop, seq)

    # -- media timeline ------------------------------------------------------------------------

    @property
    def range_start_ms(self) -> float:
        return self.timestamps_ms[self.start_frame]

    @property
    def range_duration_ms(self) -> float:
        """Duration of one forward pass over the played range, last frame's duration included."""
        return self.timestamps_ms[self.stop_frame] + self.frame_time_ms - self.range_start_ms

    def media_offset_ms(self, frame_index: int) -> float:
        """Offset of ``frame_index`` (clamped into the range) from the start of the range."""
        idx = min(max(frame_index, self.start_frame), self.stop_frame)
        return self.timestamps_ms[idx] - self.range_start_ms

    def frame_at_offset(self, offset_ms: float) -> int:
        """Frame shown ``offset_ms`` after the start of the range within one forward pass."""
        t = self.range_start_ms + offset_ms
        hi = self.stop_frame + 1
        idx = bisect.bisect_right(self.timestamps_ms, t, self.start_frame, hi) - 1
        return min(max(idx, self.start_frame), self.stop_frame)

    def position_after(self, origin_frame: int, forward: bool, elapsed_ms: float, speed: float):
        """Return ``(frame_index, forward)`` due ``elapsed_ms`` of wall time after ``origin_frame``.

        ``forward`` is the direction at the origin (only meaningful for sweep). The media time runs
        at ``speed`` times real time.
        """
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        period = self.range_duration_ms
        media = max(elapsed_ms, 0.0) * speed
        start_off = self.media_offset_ms(origin_frame)
        if self.sequencing == "loop":
            return self.frame_at_offset((start_off + media) % period), True
        # Sweep: unfold forward + backward into one 2 * period cycle; going back, each frame keeps
        # its own duration (intervals mirrored), so the end frames show once per pass.
        eps = 1e-6
        if forward:
            pos = start_off
        else:
            pos = 2 * period - start_off - self._duration_ms(origin_frame) + eps
        pos = (pos + media) % (2 * period)
        if pos < period:
            return self.frame_at_offset(pos), True
        return self.frame_at_offset(2 * period - pos - eps), False

    def _duration_ms(self, frame_index: int) -> float:
        idx = min(max(frame_index, self.start_frame), self.stop_frame)
        if idx < self.stop_frame:
            return self.timestamps_ms[idx + 1] - self.timestamps_ms[idx]
        return self.frame_time_ms

    def tick_interval_ms(self, speed: float) -> int:
        """Timer period: twice per frame at this speed, between 4 and 20 ms."""
        return int(min(max(self.frame_time_ms / speed / 2.0, 4.0), 20.0))

    def time_ms(self, frame_index: int) -> float:
        """The file's timestamp of ``frame_index`` (ms from the first frame)."""
        return self.timestamps_ms[frame_index]
