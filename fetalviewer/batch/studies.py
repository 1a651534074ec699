"""Per-study read-outs of the frames table: best frame per plane, exam checklist, model GA, counts.

The best frame of a plane is the analysed frame with the highest probability for it over every instance
of the study, as in the window (:func:`fetalviewer.workspace.findings.best_frames`); ties go to the
smallest SOP Instance UID, then frame, so every engine gives the same table. The checklist is
:func:`fetalviewer.workspace.findings.exam_checklist` at the threshold. The study's model GA is the median
of the per-frame GA read-outs (head frames with a calibrated pixel size); ``ga_spread_days`` is their
interquartile range, a measure of how much the model's frames of one exam disagree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fetalviewer.batch.schema import PLANE_COLUMNS
from fetalviewer.model.planes import PLANE_CLASSES
from fetalviewer.workspace.findings import OPTIONAL_PLANES, STANDARD_PLANES, BestFrame, exam_checklist

NO_STUDY = "(no Study Instance UID)"
NEEDED_COLUMNS = ["study_instance_uid", "sop_instance_uid", "frame_index", "ga_days", *PLANE_COLUMNS]


def study_columns() -> list[str]:
    cols = ["study_instance_uid", "n_instances", "n_frames_analysed"]
    for key in PLANE_CLASSES:
        cols += [f"best_{key}_prob_0_1", f"best_{key}_sop_instance_uid", f"best_{key}_frame_index"]
    cols += [f"found_{key}" for key in (*STANDARD_PLANES, *OPTIONAL_PLANES)]
    cols += [
        "n_required_found",
        "n_required",
        "completeness_0_1",
        "missing_planes",
        "checklist_threshold_0_1",
        "ga_days_model",
        "ga_spread_days",
        "n_ga_frames",
    ]
    return cols


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, inverse = np.unique(values, return_inverse=True)
    return uniq, inverse.reshape(-1)


def study_table(frames, threshold_0_1: float) -> dict[str, list[Any]]:
    """Columns of the studies table (one row per study, sorted by Study Instance UID)."""
    if not 0.0 <= threshold_0_1 <= 1.0:
        raise ValueError(f"threshold_0_1 must lie in [0, 1], got {threshold_0_1}")
    out: dict[str, list[Any]] = {c: [] for c in study_columns()}
    if frames.num_rows == 0:
        return out
    study_raw = frames.column("study_instance_uid").fill_null(NO_STUDY).to_numpy(zero_copy_only=False)
    studies, study = _codes(study_raw.astype(str))
    sops, sop = _codes(frames.column("sop_instance_uid").to_numpy(zero_copy_only=False).astype(str))
    frame = frames.column("frame_index").to_numpy()
    ga = frames.column("ga_days").cast("float64").fill_null(np.nan).to_numpy()
    probs = np.stack([frames.column(c).to_numpy() for c in PLANE_COLUMNS], axis=1)
    n_studies = len(studies)
    best: list[dict[str, BestFrame]] = [{} for _ in range(n_studies)]
    for p, key in enumerate(PLANE_CLASSES):
        order = np.lexsort((frame, sop, -probs[:, p], study))  # last key sorts first
        first = order[np.r_[True, study[order][1:] != study[order][:-1]]]
        for i in first:
            best[study[i]][key] = BestFrame(key, str(sops[sop[i]]), int(frame[i]), float(probs[i, p]))
    for s in range(n_studies):
        rows = study == s
        out["study_instance_uid"].append(str(studies[s]))
        out["n_instances"].append(int(np.unique(sop[rows]).size))
        out["n_frames_analysed"].append(int(rows.sum()))
        for key in PLANE_CLASSES:
            b = best[s][key]
            out[f"best_{key}_prob_0_1"].append(b.prob_0_1)
            out[f"best_{key}_sop_instance_uid"].append(b.sop_instance_uid)
            out[f"best_{key}_frame_index"].append(b.frame_index)
        checklist = exam_checklist(best[s], float(threshold_0_1))
        for item in checklist:
            out[f"found_{item.plane_key}"].append(bool(item.found))
        required = [c for c in checklist if c.required]
        found = sum(c.found for c in required)
        out["n_required_found"].append(int(found))
        out["n_required"].append(len(required))
        out["completeness_0_1"].append(found / len(required) if required else 1.0)
        out["missing_planes"].append(";".join(c.plane_key for c in required if not c.found))
        out["checklist_threshold_0_1"].append(float(threshold_0_1))
        g = ga[rows]
        g = g[~np.isnan(g)]
        out["n_ga_frames"].append(int(g.size))
        out["ga_days_model"].append(float(np.median(g)) if g.size else None)
        out["ga_spread_days"].append(float(np.subtract(*np.percentile(g, [75, 25]))) if g.size else None)
    return out


def ga_discordance_days(frames, table: dict[str, list[Any]]) -> np.ndarray:
    """Per head frame with a GA: its GA minus its study's model GA (days)."""
    if frames.num_rows == 0:
        return np.zeros(0)
    study = frames.column("study_instance_uid").fill_null(NO_STUDY).to_numpy(zero_copy_only=False).astype(str)
    ga = frames.column("ga_days").cast("float64").fill_null(np.nan).to_numpy()
    median = {
        uid: g
        for uid, g in zip(table["study_instance_uid"], table["ga_days_model"], strict=True)
        if g is not None
    }
    ref = np.array([median.get(u, np.nan) for u in study], dtype=np.float64)
    diff = ga - ref
    return diff[~np.isnan(diff)]


def to_arrow(table: dict[str, list[Any]]):
    import pyarrow as pa

    return pa.table({c: table[c] for c in study_columns()})
