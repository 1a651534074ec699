"""Progress with an ETA and cooperative cancel for the validation jobs (CLI and window alike)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fetalviewer.errors import FetalViewerError


class ValidationCancelled(FetalViewerError):
    """The user cancelled a validation run; what was computed stays in the per-image cache."""


@dataclass(frozen=True)
class ValidationProgress:
    """``done`` of ``total`` items of ``stage``; ``eta_s`` None until a rate is known."""

    stage: str
    done: int
    total: int
    eta_s: float | None = None

    def text(self) -> str:
        eta = "" if self.eta_s is None else f", about {_duration(self.eta_s)} left"
        return f"{self.stage}: {self.done}/{self.total}{eta}"


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 90:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class RunControl:
    """Reports progress (with an ETA from the rate of the items computed in this run) and carries the
    cancel flag. ``check()`` raises :class:`ValidationCancelled` once ``cancel()`` was called."""

    def __init__(self, on_progress: Callable[[ValidationProgress], None] | None = None) -> None:
        self._on_progress = on_progress
        self._cancel = threading.Event()
        self._stage = ""
        self._start = 0.0
        self._start_done = 0

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise ValidationCancelled("validation cancelled; a later run continues from the per-image cache")

    def start(self, stage: str, done: int, total: int) -> None:
        """A new stage; ``done`` items are already known (e.g. from the cache) and do not count for the ETA."""
        self._stage, self._start, self._start_done = stage, time.monotonic(), int(done)
        self._emit(ValidationProgress(stage, int(done), int(total)))

    def advance(self, done: int, total: int) -> None:
        self.check()
        elapsed = time.monotonic() - self._start
        computed = done - self._start_done
        eta = elapsed / computed * (total - done) if computed > 0 and elapsed > 0 else None
        self._emit(ValidationProgress(self._stage, int(done), int(total), eta))

    def _emit(self, progress: ValidationProgress) -> None:
        if self._on_progress is not None:
            self._on_progress(progress)
