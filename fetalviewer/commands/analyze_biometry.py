"""Head biometry and CHD fields for every frame of ``fetalviewer analyze`` (works without FetalCLIP weights).

Listed in :data:`fetalviewer.commands.analyze.FRAME_EXTENDERS` (and ``CLIP_EXTENDERS``). Per frame:

* the head segmentation runs on the ORIGINAL frame (a DICOM frame is cropped to its single 2D tissue
  region inside :func:`fetalviewer.model.heads.default_head.segment_head`, and the mask is pasted back
  into original pixels), then ``fit_head_mask`` -> ``biometry_fields`` (contour polygon, ellipse,
  HC/BPD/OFD, GA by Hadlock 1984 and INTERGROWTH-21st 2016 with citations, discordance with the model's
  GA): see :mod:`fetalviewer.analysis.frame_biometry`;
* calibration: a plain image uses ``--pixel-size-mm``; a DICOM frame its ultrasound regions
  (PixelSpacing only when it has no regions); none -> contour and ellipse in pixels, no mm, no GA, the
  reason said;
* when the FetalCLIP model ran and its top plane is not "brain", no head biometry is attempted (the
  reason names the plane); without weights every frame is tried;
* CHD (clip level, :mod:`fetalviewer.commands.analyze_chd`): on a multi-frame instance, the installed
  CHD head scores the un-normalised embeddings of the frames the model labels heart; the clip block
  (``clips[i]``) gets the score, the review prompt, the frames used and the head's provenance, and the
  heart frames' records get the same CHD fields. Otherwise the fields say why there is no score.

Segmentation model: when the FetalCLIP weights are loaded and a trained FetalCLIP ``seg`` head for the
``head`` structure that fits the loaded backbone is installed (user heads folder or ``weights/heads``),
it runs (on the model's worker thread, through ``context.run_on_model``) instead of the project's
default head (``weights/default_head``); a head for another backbone is refused with the reason.
``head_segmentation.source`` says which ran, ``head_segmentation.fetalclip_seg_head`` why.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np

from fetalviewer.analysis.estimate import format_plus_minus_weeks
from fetalviewer.commands.analyze_records import ClipContext, FrameContext

log = logging.getLogger(__name__)

HEAD_PLANE = "brain"
HEART_PLANE = "heart"


def _discordance_threshold_days() -> float:
    from fetalviewer.analysis.biometry import DEFAULT_DISCORDANCE_DAYS
    from fetalviewer.settings import load_settings

    try:
        value = float(load_settings().get("discordance_threshold_days", DEFAULT_DISCORDANCE_DAYS))
    except (TypeError, ValueError):
        return DEFAULT_DISCORDANCE_DAYS
    return value if value > 0 else DEFAULT_DISCORDANCE_DAYS


def _installed_heads(kind: str) -> list[Path]:
    from fetalviewer.model.heads.headfile import head_dirs

    return list(_heads_in(kind, tuple(head_dirs())))


@functools.lru_cache(maxsize=16)
def _heads_in(kind: str, folders: tuple[Path, ...]) -> tuple[Path, ...]:
    """Head files of ``kind`` in ``folders`` (read once per run: headers are not re-read per frame)."""
    from fetalviewer.model.heads.headfile import HEAD_SUFFIX

    found = []
    for folder in folders:
        if folder.is_dir():
            found.extend(sorted(folder.glob(f"*{HEAD_SUFFIX}")))
    return tuple(p for p in found if _head_kind(p) == kind)


def _head_kind(path: Path) -> str | None:
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.model.heads.headfile import read_header

    try:
        return read_header(path).kind
    except FetalViewerError:
        return None


def fetalclip_seg_head_note(context: FrameContext) -> str:
    """Why no FetalCLIP seg head can run for this frame (no model to run it on)."""
    if context.prediction is None or context.run_on_model is None:
        return "no FetalCLIP weights loaded, so no FetalCLIP segmentation head can run"
    return "the loaded FetalCLIP model is not available to this frame"


def segment_frame(context: FrameContext, frame: np.ndarray, region: Any):
    """``(HeadSegmentation, note)``: an installed FetalCLIP seg head that fits the loaded backbone when
    there is one (run on the model's worker thread), else the default head model; the note says which
    ran and why. A FetalCLIP head that fails at run time falls back to the default head (said)."""
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.model.heads.default_head import segment_head

    if context.run_on_model is None:
        return segment_head(frame, region), f"default head model ({fetalclip_seg_head_note(context)})"
    from fetalviewer.model.heads.select import segment_head_auto

    try:
        return context.run_on_model(lambda loaded: segment_head_auto(frame, region, loaded))
    except (FetalViewerError, ValueError, RuntimeError, KeyError) as exc:
        log.warning("%s: FetalCLIP seg head failed (%s); default head model used", context.source, exc)
        note = f"default head model (the FetalCLIP segmentation head failed: {exc})"
        return segment_head(frame, region), note


def frame_pixels(context: FrameContext) -> tuple[np.ndarray, Any, tuple[float, float] | None]:
    """(original frame, crop region or None, PixelSpacing (row, col) mm or None) of a frame record."""
    cine = context.cine
    if cine is None:
        image = getattr(context.frame_input, "image", None)
        if image is None:
            raise ValueError(f"{context.source}: no pixels for this frame")
        return image, None, None
    from fetalviewer.dicom.calibration import single_tissue_region

    regions = tuple(getattr(cine, "regions", ()) or ())
    frame = cine.frame(int(context.frame_index or 0))
    spacing = None
    if not regions:
        try:
            ds = cine.dataset()
            ps = getattr(ds, "PixelSpacing", None)
            if ps is not None and len(ps) == 2:
                spacing = (float(ps[0]), float(ps[1]))
        except Exception:  # noqa: BLE001 - a header that cannot be read just gives no spacing
            spacing = None
    return frame, single_tissue_region(regions), spacing


def _plain_image_pixel_size(context: FrameContext) -> float | None:
    fi = context.frame_input
    if context.cine is not None or fi is None:
        return None
    return getattr(fi, "pixel_size_mm", None)


def head_fields(context: FrameContext) -> dict[str, Any]:
    """The biometry fields of one frame (see the module docstring)."""
    from fetalviewer.analysis.frame_biometry import biometry_fields, fit_head_mask
    from fetalviewer.errors import FetalViewerError

    pred = context.prediction
    threshold = _discordance_threshold_days()
    if pred is not None and pred.top_plane != HEAD_PLANE:
        reason = f"not a head frame (model top plane: {pred.top_plane}); head biometry not attempted"
        return {**biometry_fields(None, unavailable_reason=reason), "head_segmentation": None}
    try:
        frame, region, spacing = frame_pixels(context)
    except Exception as exc:  # noqa: BLE001 - a frame that cannot be decoded is reported, not fatal
        return {
            **biometry_fields(None, unavailable_reason=f"frame not decoded: {exc}"),
            "head_segmentation": None,
        }
    try:
        seg, seg_note = segment_frame(context, frame, region)
    except FetalViewerError as exc:  # weights missing or damaged: say so, per frame
        reason = f"head segmentation model unavailable: {exc}"
        return {**biometry_fields(None, unavailable_reason=reason), "head_segmentation": None}
    except ValueError as exc:
        return {
            **biometry_fields(None, unavailable_reason=f"head segmentation not run: {exc}"),
            "head_segmentation": None,
        }
    fit = fit_head_mask(seg.mask, seg.crop_box)
    regions = None if context.cine is None else tuple(getattr(context.cine, "regions", ()) or ())
    fields = biometry_fields(
        fit,
        regions=regions,
        pixel_size_mm=_plain_image_pixel_size(context),
        pixel_spacing_mm=spacing,
        model_ga_days=None if pred is None else pred.ga_days,
        discordance_threshold_days=threshold,
    )
    if context.cine is None and _plain_image_pixel_size(context) is None and fields.get("hc_px"):
        fields["biometry_unavailable_reason"] = (
            "no mm and no GA: a plain image has no calibration (give --pixel-size-mm)"
        )
    fields["head_segmentation"] = {
        **seg.provenance(),
        "confidence_0_1": round(seg.confidence_0_1, 4),
        "crop_box_px": list(seg.crop_box),
        "mask_area_px": seg.area_px,
        "fetalclip_seg_head": seg_note,
    }
    if pred is None:
        fields["ga_discordance_note"] = "no model GA (no FetalCLIP weights): discordance not checked"
    return fields


def chd_frame_fields(context: FrameContext) -> dict[str, Any]:
    """CHD review fields of one frame before its clip is scored: why there is no score here.

    A heart frame of a multi-frame instance gets its clip's fields afterwards (:func:`add_clip_chd`).
    """
    from fetalviewer.analysis.chd import chd_review
    from fetalviewer.analysis.frame_biometry import chd_fields

    pred = context.prediction
    if pred is None:
        return chd_fields(
            None, "no FetalCLIP weights loaded: the CHD head works on FetalCLIP frame embeddings"
        )
    if pred.top_plane != HEART_PLANE:
        return chd_fields(None, f"not a heart frame (model top plane: {pred.top_plane})")
    if not _installed_heads("chd"):
        return chd_fields(chd_review(None, 1, head_installed=False))
    if context.cine is None or int(getattr(context.cine, "n_frames", 1) or 1) < 2:
        return chd_fields(
            None, "the CHD head scores heart clips (multi-frame instances); this is a single image"
        )
    return chd_fields(None, "scored with its clip (see the clip's CHD block)")


def biometry_text(fields: dict[str, Any]) -> str:
    """One line for the text output of ``analyze``."""
    if fields.get("hc_mm") is not None:
        parts = [
            f"HC {fields['hc_mm']:.1f} mm",
            f"BPD {fields['bpd_mm']:.1f} mm",
            f"OFD {fields['ofd_mm']:.1f} mm",
        ]
        for ga in fields.get("ga_formulas", []):
            value = ga["ga_weeks_days"] or f"unavailable ({ga['unavailable_reason']})"
            if ga["ga_weeks_days"] and ga.get("plus_minus_days"):
                value += format_plus_minus_weeks(ga["plus_minus_days"])
            parts.append(f"GA {ga['method']} {value}")
        if fields.get("ga_discordance_flag") is not None:
            parts.append(
                "DISCORDANT with model GA" if fields["ga_discordance_flag"] else "concordant with model GA"
            )
        return "head biometry (automatic): " + "; ".join(parts)
    if fields.get("hc_px") is not None:
        return f"head contour found, HC {fields['hc_px']:.1f} px; {fields['biometry_unavailable_reason']}"
    return f"head biometry unavailable: {fields.get('biometry_unavailable_reason')}"


def add_biometry_and_chd(record: dict[str, Any], context: FrameContext) -> None:
    """The analyze frame extender: head biometry fields, CHD fields, and a one-line summary."""
    fields = head_fields(context)
    record.update(fields)
    record.update(chd_frame_fields(context))
    text = biometry_text(fields)
    seg = fields.get("head_segmentation") or {}
    if seg.get("source") == "fetalclip-seg-head":
        text += f" [segmented by the FetalCLIP seg head {seg.get('model_name', '').split(':', 1)[-1]}]"
    record["biometry_text"] = text


def add_clip_chd(record: dict[str, Any], context: ClipContext) -> None:
    """The analyze clip extender: the clip-level CHD block, copied onto the clip's heart frames."""
    from fetalviewer.commands.analyze_chd import clip_chd_block, heart_frames

    used, embeddings = heart_frames(context.frames)
    block = clip_chd_block(used, embeddings, context.run_on_model, context.model_unavailable_reason)
    record["chd"] = block
    record["chd_summary"] = block["chd_text"] or f"CHD review unavailable: {block['chd_unavailable_reason']}"
    frame_fields = {k: v for k, v in block.items() if k.startswith("chd_")}
    for frame, frame_record in zip(context.frames, context.records, strict=True):
        if frame.frame_index in used:
            frame_record.update(frame_fields)
