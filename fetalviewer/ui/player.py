"""Cine playback: a timer driving :class:`PlaybackClock`, stepping, speed, loop/sweep, read-ahead.

The player only decides which frame is current and asks the DICOM engine to read ahead
(``CineLoop.prefetch``); displaying the frame is the window's job (``frame_changed``). While
playing, the frame shown is always the one due at the true (speed-scaled) media time, so when a
frame takes too long to decode, later frames are skipped rather than the loop running late.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from fetalviewer.ui.playback_clock import SPEEDS, PlaybackClock

PREFETCH_FRAMES = 12
log = logging.getLogger(__name__)


class CinePlayer(QObject):
    """Current frame and playback state of one instance."""

    frame_changed = Signal(int)
    playing_changed = Signal(bool)
    speed_changed = Signal(float)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._loop = None
        self._clock: PlaybackClock | None = None
        self._n_frames = 0
        self._index = 0
        self._speed = 1.0
        self._playing = False
        self._forward = True
        self._origin_frame = 0
        self._origin_forward = True
        self._origin_s = 0.0
        self.frames_shown = 0
        self.frames_dropped = 0
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.PreciseTimer)
        self._timer.timeout.connect(self._on_timer_timeout)

    # -- instance ------------------------------------------------------------------------------

    def set_loop(self, loop) -> None:
        """Take ``loop`` (a contract CineLoop); stops playback and shows its first played frame."""
        self.pause()
        self._loop = loop
        self._n_frames = int(loop.n_frames) if loop is not None else 0
        self._clock = PlaybackClock.from_timing(loop.timing, self._n_frames) if self._n_frames else None
        self._forward = True
        start = self._clock.start_frame if self._clock else 0
        self._index = -1
        self.seek(start)

    def clear(self) -> None:
        self.pause()
        self._loop = None
        self._clock = None
        self._n_frames = 0
        self._index = 0

    @property
    def clock(self) -> PlaybackClock | None:
        return self._clock

    @property
    def n_frames(self) -> int:
        return self._n_frames

    @property
    def index(self) -> int:
        return self._index

    @property
    def is_playing(self) -> bool:
        return self._playing

    @property
    def speed(self) -> float:
        return self._speed

    def time_ms(self, index: int | None = None) -> float:
        if self._clock is None:
            return 0.0
        return self._clock.time_ms(self._index if index is None else index)

    # -- navigation ------------------------------------------------------------------------------

    def seek(self, index: int) -> None:
        """Show frame ``index`` (clamped to the file's frames); playback continues from there."""
        if self._n_frames == 0:
            return
        index = min(max(int(index), 0), self._n_frames - 1)
        if self._playing:
            self._restart_origin(index)
        if index != self._index:
            self._index = index
            self.frames_shown += 1
            self.frame_changed.emit(index)

    def step(self, delta: int) -> None:
        """Pause and move ``delta`` frames (e.g. +-1, +-10)."""
        self.pause()
        self.seek(self._index + int(delta))

    def first(self) -> None:
        self.pause()
        self.seek(self._clock.start_frame if self._clock else 0)

    def last(self) -> None:
        self.pause()
        self.seek(self._clock.stop_frame if self._clock else self._n_frames - 1)

    # -- playback --------------------------------------------------------------------------------

    def play(self) -> None:
        if self._playing or self._clock is None or self._n_frames < 2:
            return
        self._playing = True
        if not self._clock.start_frame <= self._index <= self._clock.stop_frame:
            self._index = self._clock.start_frame
            self.frame_changed.emit(self._index)
        self._restart_origin(self._index)
        self._timer.start(self._clock.tick_interval_ms(self._speed))
        self._prefetch_ahead()
        self.playing_changed.emit(True)

    def pause(self) -> None:
        if not self._playing:
            return
        self._playing = False
        self._timer.stop()
        self.playing_changed.emit(False)

    def toggle(self) -> None:
        self.pause() if self._playing else self.play()

    def set_speed(self, speed: float) -> None:
        speed = float(speed)
        if not SPEEDS[0] <= speed <= SPEEDS[-1]:
            raise ValueError(f"speed must be within {SPEEDS[0]}x-{SPEEDS[-1]}x, got {speed!r}")
        if speed == self._speed:
            return
        self._speed = speed
        if self._playing:
            self._restart_origin(self._index)
            self._timer.setInterval(self._clock.tick_interval_ms(speed))
        self.speed_changed.emit(speed)

    def faster(self) -> None:
        higher = [s for s in SPEEDS if s > self._speed]
        if higher:
            self.set_speed(higher[0])

    def slower(self) -> None:
        lower = [s for s in SPEEDS if s < self._speed]
        if lower:
            self.set_speed(lower[-1])

    def _restart_origin(self, index: int) -> None:
        self._origin_frame = index
        self._origin_forward = self._forward
        self._origin_s = time.perf_counter()

    def _on_timer_timeout(self) -> None:
        if not self._playing or self._clock is None:
            return
        elapsed_ms = (time.perf_counter() - self._origin_s) * 1000.0
        frame, forward = self._clock.position_after(
            self._origin_frame, self._origin_forward, elapsed_ms, self._speed
        )
        self._forward = forward
        if frame == self._index:
            return
        expected = self._index + (1 if forward else -1)
        if frame != expected and self._clock.start_frame < frame < self._clock.stop_frame:
            self.frames_dropped += abs(frame - self._index) - 1
        self._index = frame
        self.frames_shown += 1
        self.frame_changed.emit(frame)
        self._prefetch_ahead()

    def _prefetch_ahead(self) -> None:
        """Ask the engine to decode the next frames in playing order on its worker."""
        if self._loop is None or self._clock is None:
            return
        c = self._clock
        span = c.stop_frame - c.start_frame + 1
        if span <= 1:
            return
        ahead = []
        idx, fwd = self._index, self._forward
        for _ in range(min(PREFETCH_FRAMES, span - 1)):
            if c.sequencing == "sweep":
                if fwd and idx >= c.stop_frame:
                    fwd = False
                elif not fwd and idx <= c.start_frame:
                    fwd = True
                idx += 1 if fwd else -1
            else:
                idx = idx + 1 if idx < c.stop_frame else c.start_frame
            ahead.append(idx)
        try:
            self._loop.prefetch(ahead)
        except Exception:  # noqa: BLE001 - read-ahead is an optimisation; frame() reports problems
            log.debug("prefetch failed", exc_info=True)
