"""The frames table of ``fetalviewer batch``: column names, Arrow schema and rows from predictions.

One row per analysed frame. Probabilities are the engine's zero-shot read-outs
(:meth:`fetalviewer.model.engine.FetalClipEngine.predict_embeddings`) as float64, so they equal what
``fetalviewer analyze`` prints for the same frame; the brain sub-plane columns and ``ga_days`` are null
where the engine gives none (not a head frame, no calibration) and ``ga_unavailable_reason`` says why.
``frame_index`` is 0-based (the DICOM frame number minus one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fetalviewer.model.planes import BRAIN_SUBPLANE_CLASSES, PLANE_CLASSES

ID_COLUMNS: tuple[str, ...] = (
    "study_instance_uid",
    "series_instance_uid",
    "sop_instance_uid",
    "source_path",
    "frame_index",
)
PLANE_COLUMNS: tuple[str, ...] = tuple(f"p_{k}" for k in PLANE_CLASSES)
SUBPLANE_COLUMNS: tuple[str, ...] = tuple(f"p_{k}" for k in BRAIN_SUBPLANE_CLASSES)
FRAME_COLUMNS: tuple[str, ...] = (
    *ID_COLUMNS,
    *PLANE_COLUMNS,
    "top_plane",
    "top_prob_0_1",
    *SUBPLANE_COLUMNS,
    "ga_days",
    "ga_unavailable_reason",
    "model_name",
    "weights_sha256",
)


def frames_schema():
    """The Arrow schema of every part file (same columns, same order, same types)."""
    import pyarrow as pa

    fields = [
        pa.field("study_instance_uid", pa.string()),
        pa.field("series_instance_uid", pa.string()),
        pa.field("sop_instance_uid", pa.string(), nullable=False),
        pa.field("source_path", pa.string(), nullable=False),
        pa.field("frame_index", pa.int32(), nullable=False),
        *[pa.field(c, pa.float64(), nullable=False) for c in PLANE_COLUMNS],
        pa.field("top_plane", pa.string(), nullable=False),
        pa.field("top_prob_0_1", pa.float64(), nullable=False),
        *[pa.field(c, pa.float64()) for c in SUBPLANE_COLUMNS],
        pa.field("ga_days", pa.int32()),
        pa.field("ga_unavailable_reason", pa.string()),
        pa.field("model_name", pa.string(), nullable=False),
        pa.field("weights_sha256", pa.string(), nullable=False),
    ]
    return pa.schema(fields)


@dataclass(frozen=True)
class InstanceIds:
    """Who a file is: its DICOM UIDs and where it was read from."""

    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    source_path: str

    def __post_init__(self) -> None:
        if not self.sop_instance_uid:
            raise ValueError("sop_instance_uid must not be empty")
        if not self.source_path:
            raise ValueError("source_path must not be empty")


def empty_columns() -> dict[str, list[Any]]:
    return {c: [] for c in FRAME_COLUMNS}


def append_rows(
    columns: dict[str, list[Any]],
    ids: InstanceIds,
    predictions: Sequence[Any],
    model_name: str,
    weights_sha256: str,
) -> None:
    """Add one row per :class:`~fetalviewer.model.results.FramePrediction` of one instance."""
    for pred in predictions:
        if pred.frame_index is None:
            raise ValueError(f"{ids.source_path}: a DICOM frame prediction needs a frame index")
        columns["study_instance_uid"].append(ids.study_instance_uid or None)
        columns["series_instance_uid"].append(ids.series_instance_uid or None)
        columns["sop_instance_uid"].append(ids.sop_instance_uid)
        columns["source_path"].append(ids.source_path)
        columns["frame_index"].append(int(pred.frame_index))
        for key, col in zip(PLANE_CLASSES, PLANE_COLUMNS, strict=True):
            columns[col].append(float(pred.plane_probs[key]))
        columns["top_plane"].append(pred.top_plane)
        columns["top_prob_0_1"].append(float(pred.top_prob_0_1))
        sub = pred.brain_subplane_probs
        for key, col in zip(BRAIN_SUBPLANE_CLASSES, SUBPLANE_COLUMNS, strict=True):
            columns[col].append(None if sub is None else float(sub[key]))
        columns["ga_days"].append(None if pred.ga_days is None else int(pred.ga_days))
        columns["ga_unavailable_reason"].append(pred.ga_unavailable_reason)
        columns["model_name"].append(model_name)
        columns["weights_sha256"].append(weights_sha256)


def n_rows(columns: dict[str, list[Any]]) -> int:
    return len(columns["sop_instance_uid"])


def to_table(columns: dict[str, list[Any]]):
    """The columns as an Arrow table with :func:`frames_schema`."""
    import pyarrow as pa

    return pa.table({c: columns[c] for c in FRAME_COLUMNS}, schema=frames_schema())
