"""Cine frame timing resolved from the header, reporting which attribute it came from.

Precedence (PS3.3 C.7.6.5 Cine Module and C.8.5.6 US attributes; docs/dicom.md):

1. FrameTimeVector (0018,1065) when FrameIncrementPointer (0028,0009) points to it (or no pointer
   is given) and it holds one value per frame; the first value is 0 and each following value is the
   increment in ms from the previous frame, so start times are the cumulative sum;
2. FrameTime (0018,1063), ms per frame;
3. CineRate (0018,0040), frames per second;
4. RecommendedDisplayFrameRate (0008,2144), frames per second;
5. a default of 30 fps, reported as "default".

StartTrim / StopTrim (0008,2142 / 0008,2143) are 1-based frame numbers in DICOM; they are kept here
as 0-based inclusive indices. PreferredPlaybackSequencing (0018,1244): 0 looping, 1 sweeping.
FrameDelay (0018,1066): ms from Content Time to the first frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_FPS = 30.0
SOURCES = ("FrameTimeVector", "FrameTime", "CineRate", "RecommendedDisplayFrameRate", "default")
SEQUENCINGS = ("loop", "sweep")
_FRAME_TIME_VECTOR_TAG = 0x00181065


@dataclass(frozen=True)
class FrameTiming:
    """When each frame starts and how the loop should play."""

    frame_time_ms: float
    fps: float
    source: str
    timestamps_ms: tuple[float, ...]
    start_trim: int
    stop_trim: int
    sequencing: str = "loop"
    frame_delay_ms: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.frame_time_ms) and self.frame_time_ms > 0):
            raise ValueError(f"FrameTiming.frame_time_ms must be positive, got {self.frame_time_ms}")
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"FrameTiming.fps must be positive, got {self.fps}")
        if self.source not in SOURCES:
            raise ValueError(f"FrameTiming.source must be one of {SOURCES}, got {self.source!r}")
        if not self.timestamps_ms:
            raise ValueError("FrameTiming.timestamps_ms must hold one time per frame")
        n = len(self.timestamps_ms)
        if not (0 <= self.start_trim <= self.stop_trim < n):
            raise ValueError(
                f"FrameTiming.start_trim/stop_trim ({self.start_trim}, {self.stop_trim}) "
                f"must satisfy 0 <= start <= stop < {n}"
            )
        if self.sequencing not in SEQUENCINGS:
            raise ValueError(f"FrameTiming.sequencing must be one of {SEQUENCINGS}, got {self.sequencing!r}")

    @property
    def n_frames(self) -> int:
        return len(self.timestamps_ms)

    @property
    def duration_ms(self) -> float:
        """Time from the first frame's start to the end of the last frame."""
        return self.timestamps_ms[-1] + self.frame_time_ms

    def frame_at_time(self, t_ms: float) -> int:
        """Index of the frame showing at ``t_ms`` after the first frame's start (clamped)."""
        import bisect

        return max(0, min(self.n_frames - 1, bisect.bisect_right(self.timestamps_ms, t_ms) - 1))

    def to_dict(self) -> dict[str, Any]:
        return {
            "frame_time_ms": self.frame_time_ms,
            "fps": self.fps,
            "source": self.source,
            "start_trim": self.start_trim,
            "stop_trim": self.stop_trim,
            "sequencing": self.sequencing,
            "frame_delay_ms": self.frame_delay_ms,
        }


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _pointer_tags(ds: Any) -> list[int]:
    pointer = ds.get("FrameIncrementPointer")
    if pointer is None:
        return []
    values = pointer if isinstance(pointer, Sequence) and not isinstance(pointer, (str, bytes)) else [pointer]
    return [int(v) for v in values]


def _vector_times(ds: Any, n_frames: int) -> tuple[float, ...] | None:
    vector = ds.get("FrameTimeVector")
    if vector is None:
        return None
    pointers = _pointer_tags(ds)
    if pointers and _FRAME_TIME_VECTOR_TAG not in pointers:
        return None
    try:
        increments = [float(v) for v in (vector if isinstance(vector, Sequence) else [vector])]
    except (TypeError, ValueError):
        return None
    if len(increments) != n_frames or n_frames < 2:
        return None
    if any(not math.isfinite(v) or v < 0 for v in increments) or sum(increments[1:]) <= 0:
        return None
    times = [0.0]
    for inc in increments[1:]:
        times.append(times[-1] + inc)
    return tuple(times)


def _trim(ds: Any, n_frames: int) -> tuple[int, int]:
    start = ds.get("StartTrim")
    stop = ds.get("StopTrim")
    try:
        start_i = int(start) - 1 if start not in (None, "") else 0
        stop_i = int(stop) - 1 if stop not in (None, "") else n_frames - 1
    except (TypeError, ValueError):
        return 0, n_frames - 1
    start_i = max(0, min(start_i, n_frames - 1))
    stop_i = max(0, min(stop_i, n_frames - 1))
    if start_i > stop_i:
        return 0, n_frames - 1
    return start_i, stop_i


def resolve_timing(ds: Any, n_frames: int) -> FrameTiming:
    """Frame timing of a pydicom header ``ds`` holding ``n_frames`` frames (see module doc)."""
    if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 1:
        raise ValueError(f"n_frames must be a positive int, got {n_frames!r}")
    times = _vector_times(ds, n_frames)
    if times is not None:
        frame_time_ms = times[-1] / (n_frames - 1)
        source = "FrameTimeVector"
    else:
        frame_time_ms = None
        source = "default"
        if (ft := _positive(ds.get("FrameTime"))) is not None:
            frame_time_ms, source = ft, "FrameTime"
        elif (rate := _positive(ds.get("CineRate"))) is not None:
            frame_time_ms, source = 1000.0 / rate, "CineRate"
        elif (rate := _positive(ds.get("RecommendedDisplayFrameRate"))) is not None:
            frame_time_ms, source = 1000.0 / rate, "RecommendedDisplayFrameRate"
        else:
            frame_time_ms = 1000.0 / DEFAULT_FPS
        times = tuple(i * frame_time_ms for i in range(n_frames))
    start, stop = _trim(ds, n_frames)
    sequencing = "sweep" if str(ds.get("PreferredPlaybackSequencing", "0")).strip() == "1" else "loop"
    delay = _positive(ds.get("FrameDelay")) or 0.0
    return FrameTiming(
        frame_time_ms=float(frame_time_ms),
        fps=1000.0 / float(frame_time_ms),
        source=source,
        timestamps_ms=times,
        start_trim=start,
        stop_trim=stop,
        sequencing=sequencing,
        frame_delay_ms=delay,
    )
