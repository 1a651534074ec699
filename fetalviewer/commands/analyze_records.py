"""The records ``fetalviewer analyze`` writes per frame and per clip, and what their extenders may use.

:func:`frame_record` builds one frame's dict and hands it to each extender in ``extenders`` (the list
is explicit: :data:`fetalviewer.commands.analyze.FRAME_EXTENDERS`); :func:`clip_record` does the same
for a multi-frame instance after its last frame. Extenders get the loaded model only through
``context.run_on_model(fn)``, which runs ``fn(loaded)`` on the inference service's worker thread (the
thread that owns the model) and returns its result; each frame's un-normalised image embedding (the
input of the FetalCLIP linear probes) is in ``context.embedding``.

``frame_index`` in these records is 0-based (machine-readable); text meant for people says
"frame N of M" with N 1-based (:func:`fetalviewer.analysis.frame_numbers.frame_label`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


def model_source(model_label: str = "FetalCLIP zero-shot") -> str:
    """What a value's ``value_source`` says: the model that produced it, and that it is research output."""
    return f"model output ({model_label}, research use, not a diagnosis)"


MODEL_SOURCE = model_source()


@dataclass(frozen=True)
class FrameContext:
    """What a frame-record extender may use. ``cine`` is None for plain images; ``frame_input`` holds the
    (cropped) pixels the model saw, or None when no model ran; ``prediction`` is None without weights;
    ``embedding`` is the frame's un-normalised FetalCLIP image embedding [D] (None without weights);
    ``run_on_model(fn)`` returns ``fn(loaded_model)`` computed on the model's worker thread (None
    without weights)."""

    source: str
    frame_index: int | None
    cine: Any = None
    frame_input: Any = None
    prediction: Any = None
    model_unavailable_reason: str | None = None
    embedding: Any = None
    run_on_model: Callable[[Callable[[Any], Any]], Any] | None = None


@dataclass(frozen=True)
class ClipContext:
    """What a clip extender may use: one DICOM instance after all its analysed frames.

    ``frames`` are the :class:`FrameContext` of its analysed frames (in order), ``records`` their output
    dicts (extenders may update them, e.g. clip-level fields on the frames they concern).
    """

    source: str
    cine: Any
    frames: tuple[FrameContext, ...]
    records: tuple[dict[str, Any], ...]
    model_unavailable_reason: str | None = None
    run_on_model: Callable[[Callable[[Any], Any]], Any] | None = None

    def __post_init__(self) -> None:
        if len(self.frames) != len(self.records):
            raise ValueError(
                f"frames ({len(self.frames)}) and records ({len(self.records)}) differ in length"
            )


FrameExtender = Callable[[dict[str, Any], FrameContext], None]
ClipExtender = Callable[[dict[str, Any], ClipContext], None]


def clip_record(context: ClipContext, extenders: Sequence[ClipExtender] = ()) -> dict[str, Any]:
    """The per-instance dict written by ``analyze`` under ``clips``, then given to each of ``extenders``."""
    if not isinstance(context, ClipContext):
        raise TypeError("context must be a ClipContext")
    cine = context.cine
    record: dict[str, Any] = {
        "source": context.source,
        "sop_instance_uid": getattr(cine, "sop_instance_uid", None),
        "n_frames": int(getattr(cine, "n_frames", 1) or 1),
        "frames_analysed": [f.frame_index for f in context.frames],
    }
    for extender in extenders:
        extender(record, context)
    return record


def frame_record(context: FrameContext, extenders: Sequence[FrameExtender] = ()) -> dict[str, Any]:
    """The per-frame dict written by ``analyze``, then given to each of ``extenders``."""
    from fetalviewer.model.planes import BRAIN_SUBPLANE_DISPLAY_NAMES, PLANE_DISPLAY_NAMES

    record: dict[str, Any] = {"source": context.source, "frame_index": context.frame_index}
    if context.cine is not None:
        record["sop_instance_uid"] = getattr(context.cine, "sop_instance_uid", None)
    pred = context.prediction
    if pred is None:
        reason = context.model_unavailable_reason or "model not run"
        record.update(
            plane_probs=None,
            top_plane=None,
            plane_unavailable_reason=reason,
            brain_subplane_probs=None,
            ga_days=None,
            ga_unavailable_reason=reason,
        )
    else:
        record.update(pred.to_dict())
        record["top_plane_display"] = PLANE_DISPLAY_NAMES[pred.top_plane]
        if pred.brain_subplane_probs is not None:
            best = max(pred.brain_subplane_probs, key=pred.brain_subplane_probs.get)
            record["top_brain_subplane"] = best
            record["top_brain_subplane_display"] = BRAIN_SUBPLANE_DISPLAY_NAMES[best]
        record["ga_weeks_days"] = pred.ga_weeks_days
        record["value_source"] = model_source(pred.model)
    for extender in extenders:
        extender(record, context)
    return record
