"""Build a :class:`~fetalviewer.report.content.ReportContent` from (instances, exam record, predictions).

Inputs are the contract objects: ``CineLoop`` instances (contract 1), an ``ExamRecord`` with its
``Measurement`` list (contract 2) and per-instance ``FramePrediction`` lists with the ``ModelInfo``
(contract 3). Whatever is missing becomes ``"not available: <reason>"``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fetalviewer import __version__
from fetalviewer.analysis.estimate import format_weeks_days
from fetalviewer.analysis.frame_numbers import frame_label
from fetalviewer.report.biometry import exam_biometry, ga_for_measurement
from fetalviewer.report.content import (
    ChecklistRow,
    ExamHeader,
    FrameOverlay,
    FramePredictionRow,
    KeyFrame,
    MeasurementRow,
    ModelCard,
    ReportContent,
    SrComparisonRow,
    model_not_available,
    not_available,
)

#: Published evaluation of FetalCLIP (Maani et al. 2025, arXiv 2502.14807) and this app's reproduction,
#: from the FetalCLIP paper (arXiv 2502.14807; docs/fetalclip.md).
EVALUATION_FACTS: tuple[str, ...] = (
    "Zero-shot plane classification, FETAL_PLANES_DB (8,187 images, 5 classes): macro F1 0.9727.",
    "Zero-shot brain sub-planes (trans-thalamic/-cerebellar/-ventricular): F1 0.693.",
    "Zero-shot GA on HC18 head images: 83.42 % of estimates valid (true HC within the WHO 2.5th-97.5th "
    "percentile band at the estimated GA); this app's read-out reproduces 679 of 814 = 83.415 %.",
    "Published linear probes (not shipped): 6 planes F1 94.73; CHD video-level AUROC about 0.79 on private data.",
    "Reference: Maani et al., FetalCLIP, arXiv 2502.14807 (2025). Weights licence CC BY-NC 4.0.",
)
#: Published evaluation of MobileFetalCLIP (Saeed, Maani, Yaqub 2026, arXiv 2603.05421).
MOBILE_EVALUATION_FACTS: tuple[str, ...] = (
    "MobileFetalCLIP: a FastViT MCi0 student (11.4 M image-tower parameters, 75 M in all, 256 px input) "
    "distilled from FetalCLIP.",
    "Zero-shot GA on HC18 head images: 88.6 % of estimates valid (FetalCLIP: 83.5 %); brain sub-planes F1 "
    "0.784 (FetalCLIP: 0.702); plane and brain classification F1 combined 0.886 (FetalCLIP: 0.871).",
    "Reference: Saeed, Maani, Yaqub, MobileFetalCLIP, arXiv 2603.05421 (2026). Weights licence CC BY-NC 4.0.",
)
REMOVED = "removed (de-identified export)"
CHD_NO_HEAD = "no trained CHD head is installed; train one with 'fetalviewer train-head chd'"


def _date(text: str) -> str:
    text = (text or "").strip()
    if len(text) >= 8 and text[:8].isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:8]}"
    return text


def _time(text: str) -> str:
    text = (text or "").strip()
    return f"{text[:2]}:{text[2:4]}" if len(text) >= 4 and text[:4].isdigit() else text


def _person(text: str) -> str:
    parts = [p for p in (text or "").split("^") if p.strip()]
    return ", ".join(parts[:2]) + (" " + " ".join(parts[2:]) if len(parts) > 2 else "")


def _or_na(text: str, what: str) -> str:
    return text if text and text.strip() else not_available(f"{what} not recorded in the DICOM header")


def exam_header(instances: Sequence[Any], deidentified: bool, study_uid: str) -> ExamHeader:
    """The header block from the first instance's header (every instance is of one study)."""
    h = instances[0].header if instances else None
    get = (lambda name: str(getattr(h, name, "") or "")) if h is not None else (lambda name: "")
    device = " ".join(v for v in (get("manufacturer"), get("model_name")) if v)
    n_frames = sum(int(getattr(i, "n_frames", 1)) for i in instances)
    identifying = [
        ("Patient name", _or_na(_person(get("patient_name")), "patient name")),
        ("Patient ID", _or_na(get("patient_id"), "patient ID")),
        ("Birth date", _or_na(_date(get("patient_birth_date")), "birth date")),
        (
            "Study date",
            _or_na(
                " ".join(v for v in (_date(get("study_date")), _time(get("study_time"))) if v), "study date"
            ),
        ),
        ("Accession", _or_na(get("accession_number"), "accession number")),
        ("Institution", _or_na(get("institution_name"), "institution")),
        ("Operator", _or_na(_person(get("operator_name")), "operator")),
        ("Referring physician", _or_na(_person(get("referring_physician_name")), "referring physician")),
    ]
    if deidentified:
        identifying = [(title, REMOVED) for title, _ in identifying]
    fields = identifying + [
        ("Study", _or_na(get("study_description"), "study description") if not deidentified else REMOVED),
        ("Device", _or_na(device, "manufacturer and model")),
        ("Images", f"{len(instances)} instance(s), {n_frames} frame(s)"),
    ]
    return ExamHeader(tuple(fields), study_uid, deidentified)


def _instance_name(instances: Sequence[Any], uid: str) -> str:
    for i, inst in enumerate(instances, start=1):
        if inst.sop_instance_uid == uid:
            number = str(getattr(inst.header, "instance_number", "") or "")
            return f"image {i}" + (f" (instance {number})" if number else "")
    return "an image not loaded"


def _frame_of(instances: Sequence[Any], uid: str, frame: int, sep: str = ", ") -> str:
    """``"image 2 (instance 7), frame 13 of 120"`` for 0-based ``frame`` 12: frame numbers in the report are
    1-based, as people count them (:mod:`fetalviewer.analysis.frame_numbers`)."""
    n = next((int(i.n_frames) for i in instances if i.sop_instance_uid == uid), None)
    return f"{_instance_name(instances, uid)}{sep}{frame_label(frame, n)}"


def _plane_name(key: str | None) -> str:
    from fetalviewer.model.planes import PLANE_DISPLAY_NAMES

    return PLANE_DISPLAY_NAMES.get(key or "", key or "unlabelled")


def _measurement_rows(record: Any) -> list[MeasurementRow]:
    rows = []
    for m in getattr(record, "measurements", []) or []:
        ga = ga_for_measurement(m)
        unit_text = m.display_text()
        auto = ""
        if m.source == "edited" and m.automatic_values:
            before = m.automatic_values.get("value_mm")
            auto = (
                f"automatic value {before:.1f} mm"
                if isinstance(before, (int, float))
                else "automatic value kept"
            )
        cal = m.calibration
        cal_text = (
            f"{cal.mm_per_px_x:.4f} x {cal.mm_per_px_y:.4f} mm/px ({cal.source})"
            if cal is not None
            else not_available(m.uncalibrated_reason or "uncalibrated")
        )
        rows.append(
            MeasurementRow(
                measurement_id=m.measurement_id,
                label=m.label or ("Distance" if m.kind == "distance" else "Ellipse"),
                kind=m.kind,
                value_text=unit_text,
                value_mm=m.value_mm,
                value_px=float(m.value_px),
                source=m.source,
                automatic_value_text=auto,
                calibration_text=cal_text,
                ga_text=ga.text,
                ga_days=ga.ga_days,
                ga_method=ga.method,
                ga_citation=ga.citation,
                sop_instance_uid=m.sop_instance_uid,
                frame_index=m.frame_index,
            )
        )
    return rows


def _user_label(record: Any, uid: str, frame: int) -> str | None:
    return record.user_label(uid, frame) if record is not None else None


def _checklist(predictions, record, instances, threshold_0_1, model_reason) -> tuple[list[ChecklistRow], str]:
    from fetalviewer.workspace.findings import OPTIONAL_PLANES, STANDARD_PLANES

    best: dict[str, tuple[float, str, int]] = {}
    for uid, preds in predictions.items():
        for p in preds:
            for key, prob in p.plane_probs.items():
                if p.frame_index is not None and (key not in best or prob > best[key][0]):
                    best[key] = (prob, uid, p.frame_index)
    corrections = list(getattr(record, "plane_corrections", []) or [])
    accepted = list(getattr(record, "accepted_labels", []) or [])
    rows = []
    for key, required in [(k, True) for k in STANDARD_PLANES] + [(k, False) for k in OPTIONAL_PLANES]:
        user_frames = [c for c in corrections if c.user_label == key] + [
            a for a in accepted if a.label == key
        ]
        notes = [
            f"{_frame_of(instances, c.sop_instance_uid, c.frame_index, ' ')}: "
            f"{_plane_name(c.model_label)} -> {_plane_name(c.user_label)}"
            for c in corrections
            if key in (c.user_label, c.model_label)
        ]
        if key in best:
            prob, uid, frame = best[key]
            status = "found" if prob >= threshold_0_1 else "missing"
            best_text, prob_text = _frame_of(instances, uid, frame), f"{prob:.2f}"
        else:
            status = "missing" if not model_reason else model_not_available("not analysed")
            best_text = prob_text = "-" if not model_reason else "n/a"
        if user_frames:
            status = "found (user label)"
        rows.append(
            ChecklistRow(_plane_name(key), required, status, best_text, prob_text, "; ".join(notes) or "-")
        )
    note = "" if not model_reason else f"Planes not analysed: {model_not_available(model_reason)}. "
    note += (
        f"Found: best frame's model probability >= {threshold_0_1:.2f} (zero-shot model), or a plane label "
        "set or confirmed by the user. Planes follow the ISUOG mid-trimester guideline as far as the model's "
        "classes go; the maternal cervix is optional."
    )
    return rows, note


def _model_ga(predictions, instances, model_reason, model_info=None) -> tuple[str, float | None]:
    """The model's GA: the read-out of the analysed frame most likely to be a head (brain) view."""
    if model_reason:
        return model_not_available(model_reason), None
    heads = [(p.plane_probs.get("brain", 0.0), uid, p) for uid, preds in predictions.items() for p in preds]
    with_ga = [h for h in heads if h[2].ga_days is not None]
    if not with_ga:
        reasons = sorted({h[2].ga_unavailable_reason for h in heads if h[2].ga_unavailable_reason})
        why = reasons[0] if reasons else "no frame was analysed"
        return not_available(f"no head frame with a model GA ({why})"), None
    prob, uid, p = max(with_ga, key=lambda h: h[0])
    text = (
        f"{format_weeks_days(p.ga_days)} ({model_info.output_label if model_info else p.model}, best head frame: "
        f"{_frame_of(instances, uid, p.frame_index, ' ')}, brain probability {prob:.2f}; read-out: median of the 15 best GA prompts)"
    )
    return text, float(p.ga_days)


def _model_card(model_info, model_reason, deidentified: bool = False) -> ModelCard:
    if model_info is None:
        fields = (("Model", model_not_available(model_reason or "no weights given")),)
        return ModelCard(False, fields + (("App version", __version__),), EVALUATION_FACTS)
    try:
        from fetalviewer.model.planes import plane_prompts, prompts_digest

        prompt_set = f"FetalCLIP reference prompts (shared by MobileFetalCLIP), sha256 {prompts_digest(plane_prompts())[:16]}"
    except Exception as exc:  # prompts file missing in a broken install
        prompt_set = not_available(f"prompt files unreadable ({exc})")
    fields = (
        ("Model", f"{model_info.description or model_info.model_name}, zero-shot"),
        ("Algorithm", f"{model_info.algorithm[0]}, version {model_info.algorithm[1]}"),
        ("Config", model_info.config_name),
        (
            "Weights file",
            Path(model_info.weights_path).name if deidentified else str(model_info.weights_path),
        ),
        ("SHA-256", model_info.weights_sha256),
        ("Size", f"{model_info.weights_size_bytes:,} bytes"),
        ("Device", f"{model_info.device}, {model_info.dtype}"),
        ("Prompt set", prompt_set),
        ("Licence", model_info.licence),
        ("App version", f"FetalViewer {__version__}"),
    )
    facts = MOBILE_EVALUATION_FACTS if model_info.model_name == "MobileFetalCLIP" else EVALUATION_FACTS
    return ModelCard(True, fields, facts)


def build_report_content(
    instances: Sequence[Any],
    record: Any = None,
    predictions: Mapping[str, Sequence[Any]] | None = None,
    *,
    model_info: Any = None,
    model_unavailable_reason: str | None = None,
    deidentified: bool = False,
    contours: Mapping[tuple[str, int], Sequence[Sequence[Sequence[float]]]] | None = None,
    chd_flags: Sequence[str] | None = None,
    chd_unavailable_reason: str | None = None,
    plane_threshold_0_1: float = 0.5,
    discordance_threshold_days: float = 14.0,
    problems: Sequence[str] = (),
    max_key_frames: int = 8,
    biometry_algorithm: tuple[str, str] | None = None,
    sr_reports: Sequence[Any] = (),
) -> ReportContent:
    """Collect everything a report shows. ``predictions`` maps SOPInstanceUID -> FramePrediction list."""
    instances = list(instances)
    if not instances:
        raise ValueError("instances must hold at least one loaded instance")
    predictions = dict(predictions or {})
    if not predictions and not model_unavailable_reason:
        model_unavailable_reason = "no analysis results (run with --weights to analyse)"
    model_reason = None if predictions else model_unavailable_reason
    study_uid = str(instances[0].study_instance_uid)
    rows = _measurement_rows(record)
    model_ga, model_ga_days = _model_ga(predictions, instances, model_reason, model_info)
    bio = exam_biometry(getattr(record, "measurements", []) or [], model_ga_days, discordance_threshold_days)
    discordance = bio.discordance_text
    if model_ga_days is None:
        discordance = not_available("no model GA to compare with the formula GA")
    checklist, note = _checklist(predictions, record, instances, plane_threshold_0_1, model_reason)
    by_frame = {(uid, p.frame_index): p for uid, preds in predictions.items() for p in preds}
    key_frames = _key_frames(instances, record, predictions, contours or {}, by_frame, plane_threshold_0_1)
    sign = getattr(record, "sign_off", None)
    sign_text = f"Signed by {sign.signed_by} at {sign.signed_at_utc}" if sign is not None else "not signed"
    pred_rows = tuple(
        FramePredictionRow(
            uid,
            p.frame_index if p.frame_index is not None else 0,
            p.top_plane,
            p.top_prob_0_1,
            dict(p.plane_probs),
            p.ga_days,
            format_weeks_days(p.ga_days)
            if p.ga_days is not None
            else not_available(p.ga_unavailable_reason),
        )
        for uid, preds in predictions.items()
        for p in preds
    )
    algorithm = None
    if model_info is not None:
        algorithm = model_info.algorithm
    load_problem = getattr(record, "load_problem", None)
    return ReportContent(
        title="Fetal ultrasound examination report",
        header=exam_header(instances, deidentified, study_uid),
        key_frames=tuple(key_frames[:max_key_frames]),
        checklist=tuple(checklist),
        checklist_note=note,
        measurements=tuple(rows),
        parameters=bio.parameters,
        combined_ga=bio.combined.text,
        efw=bio.efw_text,
        model_ga=model_ga,
        discordance=discordance,
        chd_flags=tuple(chd_flags) if chd_flags else (not_available(chd_unavailable_reason or CHD_NO_HEAD),),
        model_card=_model_card(model_info, model_reason, deidentified),
        impression=str(getattr(record, "impression", "") or ""),
        sign_off=sign_text,
        signed_by=None if sign is None else sign.signed_by,
        generated_at_utc=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        app_version=__version__,
        predictions=pred_rows,
        problems=_problems(tuple(problems) + ((load_problem,) if load_problem else ()), deidentified),
        algorithm=algorithm,
        biometry_algorithm=biometry_algorithm or ("FetalViewer automatic biometry", __version__),
        sr_comparison=tuple(sr_comparison_rows(sr_reports, bio.parameters, deidentified)),
    )


def _key_frames(instances, record, predictions, contours, by_frame, threshold_0_1) -> list[KeyFrame]:
    by_uid = {inst.sop_instance_uid: inst for inst in instances}
    wanted: list[tuple[str, int, str]] = []
    for m in getattr(record, "measurements", []) or []:
        key = (m.sop_instance_uid, m.frame_index)
        if m.sop_instance_uid in by_uid and key not in [(u, f) for u, f, _ in wanted]:
            wanted.append((*key, "measured"))
    best: dict[str, tuple[float, str, int]] = {}
    for uid, preds in predictions.items():
        for p in preds:
            if p.frame_index is not None and p.top_prob_0_1 >= threshold_0_1:
                if p.top_plane not in best or p.top_prob_0_1 > best[p.top_plane][0]:
                    best[p.top_plane] = (p.top_prob_0_1, uid, p.frame_index)
    for plane, (_, uid, frame) in best.items():
        if uid in by_uid and (uid, frame) not in [(u, f) for u, f, _ in wanted]:
            wanted.append((uid, frame, f"best {_plane_name(plane)} frame"))
    if not wanted:  # nothing measured or found: show each instance's middle frame as an overview
        wanted = [(inst.sop_instance_uid, inst.n_frames // 2, "overview") for inst in instances[:4]]
    frames = []
    for uid, frame, why in wanted:
        inst = by_uid[uid]
        if frame >= inst.n_frames:
            continue
        user = _user_label(record, uid, frame)
        pred = by_frame.get((uid, frame))
        if user:
            plane_text = f"{_plane_name(user)} (user)"
        elif pred is not None:
            plane_text = f"{_plane_name(pred.top_plane)} (model {pred.top_prob_0_1:.2f})"
        else:
            plane_text = None
        ms = tuple(
            m
            for m in getattr(record, "measurements", []) or []
            if (m.sop_instance_uid, m.frame_index) == (uid, frame)
        )
        overlay = FrameOverlay(
            plane_text, tuple(tuple(map(tuple, c)) for c in contours.get((uid, frame), ())), ms
        )
        frames.append(
            KeyFrame(inst, frame, f"{_frame_of(instances, uid, frame)}: {why}", overlay)
        )
    return frames


def _problems(problems: tuple[str, ...], deidentified: bool) -> tuple[str, ...]:
    """Loading problems name files, and file or folder names can name the patient: a de-identified
    report only counts them."""
    if not deidentified or not problems:
        return problems
    return (f"{len(problems)} problem(s) while loading; file paths withheld in a de-identified export",)


def sr_comparison_rows(
    sr_reports: Sequence[Any], parameters, deidentified: bool = False
) -> list[SrComparisonRow]:
    """Per labelled parameter of each OB SR (:class:`~fetalviewer.report.sr.ObGynSR`), its mean value beside the app's."""
    ours = {p.label: p.value_mm for p in parameters}
    rows = []
    for number, report in enumerate(sr_reports, start=1):
        name = f"SR file {number}" if deidentified else report.name
        source = f"{name} ({report.manufacturer or 'unknown manufacturer'})"
        values: dict[str, list] = {}
        for m in report.measurements:
            if m.label is not None:
                values.setdefault(m.label, []).append(m)
        for label, items in values.items():
            value = sum(m.value_mm for m in items) / len(items)
            ga = next((m for m in items if m.ga_days is not None), None)
            ga_text = (
                f"{format_weeks_days(ga.ga_days)} ({ga.ga_equation or 'equation not given'})"
                if ga is not None
                else not_available("no GA in the SR for this parameter")
            )
            app = ours.get(label)
            diff = None if app is None else app - value
            rows.append(SrComparisonRow(label, value, app, diff, ga_text, source))
    return rows


# -- inputs shared by the window's export dialog and 'fetalviewer report' (export UI engineer) -----------
def predictions_from_analyses(analyses: Mapping[str, Any], model: str = "FetalCLIP zero-shot") -> dict[str, list]:
    """The workspace's per-frame results (``InstanceAnalysis`` by SOPInstanceUID) as ``FramePrediction``
    lists, analysed frames only, so a report shows exactly what the window's AI review showed; ``model``
    labels each value with the model that produced it (``ModelInfo.output_label``)."""
    from fetalviewer.workspace.study_run import frame_predictions

    out = {uid: frame_predictions(analysis, model=model) for uid, analysis in analyses.items()}
    return {uid: preds for uid, preds in out.items() if preds}


def cached_analyses(
    instances: Sequence[Any], weights: str | None = None, config: str | None = None, model: str = "auto"
):
    """(analyses by SOPInstanceUID, ModelInfo, None) from the window's on-disk result cache
    (:mod:`fetalviewer.workspace.cache`) for the model choice, without loading the model, or
    ({}, None, reason)."""
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.model.selection import select_model
    from fetalviewer.workspace.cache import AnalysisCache
    from fetalviewer.workspace.fetalclip_backend import identity_for
    from fetalviewer.workspace.study_analysis import load_cached_results, target_from_cine

    try:
        info = select_model(model, weights, config).identity()
        targets = [target_from_cine(i) for i in instances]
    except (FetalViewerError, OSError, ValueError) as exc:
        return {}, None, str(exc)
    found = load_cached_results(targets, identity_for(info.weights_sha256, info.config_name), AnalysisCache())
    if not found:
        return {}, None, f"no cached analysis of this study for these {info.model_name} weights"
    return found, info, None


def head_contours_and_measurements(
    instances: Sequence[Any], record: Any, frames: Sequence[tuple[str, int]] = ()
):
    """Automatic head biometry with the default head model (as the window's 'Measure head' and
    ``fetalviewer analyze`` do: :mod:`fetalviewer.commands.analyze_biometry`).

    Returns (contours {(uid, frame): [polygon]}, new automatic measurements, notes). Frames whose
    record already holds an automatic or edited HC get their contour only (the record's values stay);
    ``frames`` are measured anew (HC ellipse, BPD, OFD; Hadlock 1984 by the report's GA rules)."""
    from fetalviewer.analysis.biometry import head_biometry_in_regions, head_measurements
    from fetalviewer.analysis.frame_biometry import fit_head_mask
    from fetalviewer.dicom.calibration import single_tissue_region
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.model.heads.default_head import segment_head

    by_uid = {i.sop_instance_uid: i for i in instances}
    have = {(m.sop_instance_uid, m.frame_index) for m in getattr(record, "measurements", []) or []
            if m.label == "HC" and m.source.from_algorithm}  # fmt: skip
    wanted = list(dict.fromkeys([*sorted(have), *[(u, int(f)) for u, f in frames]]))
    contours: dict[tuple[str, int], list] = {}
    new: list = []
    notes: list[str] = []
    for uid, frame in wanted:
        inst = by_uid.get(uid)
        if inst is None or not 0 <= frame < int(inst.n_frames):
            continue
        regions = tuple(inst.regions or ())
        try:
            seg = segment_head(inst.frame(frame), single_tissue_region(regions))
        except (FetalViewerError, ValueError, OSError) as exc:
            notes.append(f"{_frame_of(instances, uid, frame, ' ')}: head model not run ({exc})")
            continue
        fit = fit_head_mask(seg.mask, seg.crop_box)
        if len(fit.contour_px) >= 3:
            contours[(uid, frame)] = [[tuple(map(float, p)) for p in fit.contour_px]]
        if (uid, frame) in have:
            continue
        if fit.ellipse is None:
            notes.append(
                f"{_frame_of(instances, uid, frame, ' ')}: no head measurement ({fit.reason})"
            )
            continue
        new.extend(head_measurements(head_biometry_in_regions(fit.ellipse, regions), uid, frame, regions))
    return contours, new, notes
