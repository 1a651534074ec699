"""Annotated cine video (MP4) with the loop's own timing, and PNG of any frame with its overlays.

Encoder: OpenCV's ``VideoWriter`` with the ``mp4v`` (MPEG-4 Part 2) codec. Chosen over imageio-ffmpeg
because it encodes in-process from the numpy frames we already have (no external ffmpeg process to
find, bundle and pipe to), and opencv-python-headless is already a dependency; the price is that
mp4v plays in desktop players (VLC, QuickTime, Windows Films & TV) but not in every web browser.

Timing: the frame rate comes from the instance's ``FrameTiming`` (FrameTimeVector, FrameTime, CineRate,
... with its source). Uniform timing writes each frame once at ``1000 / frame_time_ms`` fps; a
FrameTimeVector with uneven intervals is resampled on a constant clock (the frame showing at each tick),
so the video keeps the loop's real duration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fetalviewer.report.content import FrameOverlay, ReportContent
from fetalviewer.report.overlay import ascii_text, render_overlay, write_png

MAX_RESAMPLED_FPS = 60.0


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    n_frames: int
    fps: float
    width: int
    height: int


def _uniform(timing) -> bool:
    step = timing.frame_time_ms
    return all(abs(t - i * step) <= 1.0 for i, t in enumerate(timing.timestamps_ms))


def playback_schedule(timing) -> tuple[float, list[int]]:
    """(fps, source frame index for each video frame) that reproduces ``timing``."""
    n = len(timing.timestamps_ms)
    if _uniform(timing):
        return 1000.0 / timing.frame_time_ms, list(range(n))
    gaps = [b - a for a, b in zip(timing.timestamps_ms, timing.timestamps_ms[1:], strict=False) if b > a]
    fps = min(MAX_RESAMPLED_FPS, 1000.0 / min(gaps)) if gaps else 1000.0 / timing.frame_time_ms
    duration_ms = timing.duration_ms
    ticks = max(1, int(round(duration_ms * fps / 1000.0)))
    return fps, [timing.frame_at_time(k * 1000.0 / fps) for k in range(ticks)]


def cine_overlays(content: ReportContent, measurements, instance: Any) -> dict[int, FrameOverlay]:
    """Per frame of ``instance``: the model's plane label (where analysed), its measurements, and the
    contours of a key frame."""
    uid = instance.sop_instance_uid
    from fetalviewer.model.planes import PLANE_DISPLAY_NAMES

    plane = {
        p.frame_index: f"{PLANE_DISPLAY_NAMES.get(p.top_plane, p.top_plane)} (model {p.top_prob_0_1:.2f})"
        for p in content.predictions
        if p.sop_instance_uid == uid
    }
    contours = {kf.frame_index: kf.overlay for kf in content.key_frames if kf.sop_instance_uid == uid}
    by_frame: dict[int, list] = {}
    for m in measurements:
        if m.sop_instance_uid == uid:
            by_frame.setdefault(m.frame_index, []).append(m)
    out = {}
    for frame in set(plane) | set(by_frame) | set(contours):
        kf = contours.get(frame)
        text = kf.plane_text if kf is not None and kf.plane_text else plane.get(frame)
        out[frame] = FrameOverlay(text, kf.contours_px if kf else (), tuple(by_frame.get(frame, ())))
    return out


def _stamp(rgb: np.ndarray, text: str) -> None:
    import cv2

    font = max(0.35, rgb.shape[1] / 1600.0)
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, 1)
    org = (rgb.shape[1] - w - 6, rgb.shape[0] - 6)
    cv2.putText(rgb, ascii_text(text), org, cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(rgb, ascii_text(text), org, cv2.FONT_HERSHEY_SIMPLEX, font, (230, 230, 230), 1, cv2.LINE_AA)


def write_annotated_video(
    instance: Any,
    target: str | os.PathLike[str],
    overlays: Mapping[int, FrameOverlay] | None = None,
    clean: bool = False,
) -> VideoInfo:
    """Encode every frame of ``instance`` with its overlay into an MP4 at ``target`` (atomically)."""
    import cv2

    from fetalviewer.atomic import atomic_path
    from fetalviewer.errors import ExportError

    overlays = overlays or {}
    fps, schedule = playback_schedule(instance.timing)
    # MPEG-4 video codes whole 2x2 chroma blocks: an odd width or height would lose its last column or row
    # (and one pixel wide cannot be opened), so odd sizes are padded with black on the right and bottom.
    width, height = int(instance.columns), int(instance.rows)
    pad_x, pad_y = width % 2, height % 2
    width, height = width + pad_x, height + pad_y
    empty = FrameOverlay()
    with atomic_path(target, suffix=".mp4") as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not writer.isOpened():
            raise ExportError(
                f"{instance.path}: the MP4 encoder (OpenCV mp4v) could not be opened for a {width} x {height} "
                f"video ({Path(target).name})"
            )
        try:
            cache: tuple[int, np.ndarray] | None = None
            for index in schedule:
                if cache is None or cache[0] != index:
                    try:
                        rgb = render_overlay(
                            instance.frame(index), overlays.get(index, empty), instance.regions, clean
                        )
                    except ValueError as exc:
                        raise ExportError(f"{instance.path} frame {index}: {exc}") from exc
                    t_s = instance.timing.timestamps_ms[index] / 1000.0
                    _stamp(rgb, f"frame {index + 1}/{instance.n_frames}  {t_s:.3f} s")
                    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
                    if pad_x or pad_y:
                        bgr = cv2.copyMakeBorder(bgr, 0, pad_y, 0, pad_x, cv2.BORDER_CONSTANT, value=(0, 0, 0))
                    cache = (index, bgr)
                writer.write(cache[1])
        finally:
            writer.release()
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise ExportError(f"{target}: the MP4 encoder wrote nothing")
    return VideoInfo(Path(target), len(schedule), fps, width, height)


def read_video_info(path: str | os.PathLike[str]) -> VideoInfo:
    """Frame count, fps and size of a video, read back with OpenCV (the export check)."""
    import cv2

    from fetalviewer.errors import ExportError

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise ExportError(f"{path}: the video cannot be opened")
        count = 0
        while cap.grab():
            count += 1
        return VideoInfo(
            Path(path), count, float(cap.get(cv2.CAP_PROP_FPS)),
            int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )  # fmt: skip
    finally:
        cap.release()


def write_frame_png(
    instance: Any,
    frame_index: int,
    target: str | os.PathLike[str],
    overlay: FrameOverlay | None = None,
    clean: bool = False,
) -> Path:
    """PNG of one frame with its overlay burnt in (atomic)."""
    if not 0 <= frame_index < instance.n_frames:
        raise ValueError(f"frame_index {frame_index} is outside 0..{instance.n_frames - 1}")
    try:
        rgb = render_overlay(instance.frame(frame_index), overlay or FrameOverlay(), instance.regions, clean)
    except ValueError as exc:
        raise ValueError(f"{instance.path} frame {frame_index}: {exc}") from exc
    write_png(rgb, target)
    return Path(target)
