"""CSV and JSON exports of the measurements and the per-frame model outputs, with readers.

* ``measurements.csv``: one row per caliper (value in mm and px, source, calibration, GA with method);
* ``model_outputs.csv``: one row per analysed frame (top plane, its probability, every class
  probability ``prob_<class>``, model GA in days);
* ``report.json``: the whole report content (header, biometry, dating, checklist, CHD, model card).

Numbers are written with ``repr`` precision so the readers return exactly what was written; empty
cells mean "no value" (the reason is in the text columns). Frames: ``frame_index`` is 0-based (as in
every JSON output); the CSV tables, read by people in spreadsheets, also carry ``frame_number``, the
1-based number the window and the PDF show.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fetalviewer.analysis.frame_numbers import frame_number
from fetalviewer.atomic import write_text_atomic
from fetalviewer.errors import ExportError
from fetalviewer.report.content import ReportContent

MEASUREMENT_COLUMNS = (
    "measurement_id", "label", "kind", "value_mm", "value_px", "source", "automatic_value",
    "calibration", "ga_days", "ga_text", "ga_method", "ga_citation", "sop_instance_uid", "frame_index",
)  # fmt: skip
_FLOAT_COLUMNS = {"value_mm", "value_px", "ga_days"}
_INT_COLUMNS = {"frame_index", "frame_number"}
SCHEMA = "fetalviewer.report/1"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _csv_text(columns, rows) -> str:
    if "frame_index" in columns:  # people read CSV: the 1-based frame number beside the 0-based index
        at = list(columns).index("frame_index") + 1
        columns = (*columns[:at], "frame_number", *columns[at:])
        rows = [
            {**row, "frame_number": None if row.get("frame_index") is None else frame_number(row["frame_index"])}
            for row in rows
        ]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def measurement_records(content: ReportContent, map_uid: Callable[[str], str] = lambda u: u) -> list[dict]:
    return [
        {
            "measurement_id": r.measurement_id,
            "label": r.label,
            "kind": r.kind,
            "value_mm": r.value_mm,
            "value_px": r.value_px,
            "source": r.source,
            "automatic_value": r.automatic_value_text,
            "calibration": r.calibration_text,
            "ga_days": r.ga_days,
            "ga_text": r.ga_text,
            "ga_method": r.ga_method,
            "ga_citation": r.ga_citation,
            "sop_instance_uid": map_uid(r.sop_instance_uid),
            "frame_index": r.frame_index,
        }  # fmt: skip
        for r in content.measurements
    ]


def prediction_columns(content: ReportContent) -> tuple[str, ...]:
    classes: list[str] = []
    for p in content.predictions:
        classes += [k for k in p.plane_probs if k not in classes]
    return (
        "sop_instance_uid",
        "frame_index",
        "top_plane",
        "top_prob_0_1",
        *(f"prob_{k}" for k in classes),
        "ga_days",
        "ga_text",
    )


def prediction_records(content: ReportContent, map_uid: Callable[[str], str] = lambda u: u) -> list[dict]:
    rows = []
    for p in content.predictions:
        row = {
            "sop_instance_uid": map_uid(p.sop_instance_uid), "frame_index": p.frame_index,
            "top_plane": p.top_plane, "top_prob_0_1": float(p.top_prob_0_1),
            "ga_days": None if p.ga_days is None else float(p.ga_days), "ga_text": p.ga_text,
        }  # fmt: skip
        row.update({f"prob_{k}": float(v) for k, v in p.plane_probs.items()})
        rows.append(row)
    return rows


def write_measurements_csv(content: ReportContent, target, map_uid=lambda u: u) -> Path:
    return write_text_atomic(target, _csv_text(MEASUREMENT_COLUMNS, measurement_records(content, map_uid)))


def write_predictions_csv(content: ReportContent, target, map_uid=lambda u: u) -> Path:
    return write_text_atomic(
        target, _csv_text(prediction_columns(content), prediction_records(content, map_uid))
    )


def read_table_csv(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a CSV written here; numeric columns parsed (empty cell -> None)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise ExportError(f"{path}: not a readable CSV table ({exc})") from exc
    out = []
    for row in rows:
        parsed: dict[str, Any] = {}
        for key, value in row.items():
            if value == "" and (
                key in _FLOAT_COLUMNS | _INT_COLUMNS or key.startswith("prob_") or key.endswith("_0_1")
            ):
                parsed[key] = None
            elif key in _INT_COLUMNS:
                parsed[key] = int(value)
            elif key in _FLOAT_COLUMNS or key.startswith("prob_") or key.endswith("_0_1"):
                parsed[key] = float(value)
            else:
                parsed[key] = value
        out.append(parsed)
    return out


def report_dict(content: ReportContent, map_uid: Callable[[str], str] = lambda u: u) -> dict[str, Any]:
    """The report content as JSON-ready data (UIDs mapped for a de-identified export)."""
    return {
        "schema": SCHEMA,
        "title": content.title,
        "generated_at_utc": content.generated_at_utc,
        "app_version": content.app_version,
        "deidentified": content.header.deidentified,
        "study_instance_uid": map_uid(content.header.study_instance_uid),
        "header": dict(content.header.fields),
        "parameters": [
            {
                "label": p.label,
                "value_mm": p.value_mm,
                "value_text": p.value_text,
                "source": p.source,
                "ga": list(p.ga_texts),
                "citations": list(p.citations),
            }
            for p in content.parameters
        ],  # fmt: skip
        "measurements": measurement_records(content, map_uid),
        "combined_ga": content.combined_ga,
        "efw": content.efw,
        "model_ga": content.model_ga,
        "discordance": content.discordance,
        "checklist": [vars(c).copy() for c in content.checklist],
        "checklist_note": content.checklist_note,
        "chd_flags": list(content.chd_flags),
        "model_card": {
            "available": content.model_card.available,
            "fields": dict(content.model_card.fields),
            "evaluation": list(content.model_card.evaluation),
        },  # fmt: skip
        "model_outputs": prediction_records(content, map_uid),
        "impression": content.impression,
        "sign_off": content.sign_off,
        "problems": list(content.problems),
        "sr_comparison": [vars(r).copy() for r in content.sr_comparison],
        "ai_statement": content.ai_statement,
    }


def write_report_json(content: ReportContent, target, map_uid=lambda u: u) -> Path:
    return write_text_atomic(target, json.dumps(report_dict(content, map_uid), indent=2, ensure_ascii=False))


def read_report_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A ``report.json`` written here; raises ExportError if it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: not a readable JSON report ({exc})") from exc
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ExportError(f"{path}: not a FetalViewer report (schema {SCHEMA!r} expected)")
    return data
