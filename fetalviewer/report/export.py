"""One export of an exam into a folder: PDF, SR, secondary captures, cine MP4, PNG key frames, CSV/JSON,
and (de-identified) copies of the original instances, all-or-nothing.

Every file is written into a staging folder inside the target (atomic writes), then every file is read
back (DICOM re-read and, for the SR, parsed; PDF text extracted; video frame count; tables parsed). For
a de-identified export each file is also searched for the original identifiers. Only when every
check passes are the files moved into place; otherwise nothing is left and the error names the file
and the problem. The same function serves the window's export dialog and ``fetalviewer report``.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fetalviewer.errors import ExportError, FetalViewerError

FORMATS = ("pdf", "sr", "sc", "mp4", "png", "csv", "json", "dicom")
DEFAULT_FORMATS = ("pdf", "sr", "sc", "mp4", "png", "csv", "json")


def parse_formats(text: str) -> tuple[str, ...]:
    """``"pdf,sr"`` -> ``("pdf", "sr")``; raises ValueError naming unknown formats."""
    items = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in items if f not in FORMATS]
    if unknown or not items:
        raise ValueError(f"formats must be a comma list of {', '.join(FORMATS)}; got {text!r}")
    return items


@dataclass(frozen=True)
class ExportOptions:
    formats: tuple[str, ...] = DEFAULT_FORMATS
    deidentify: bool = False
    date_shift_days: int | None = None
    png_frames: tuple[int, ...] = ()  # extra PNGs: these frame indices of every instance, with overlays

    def __post_init__(self) -> None:
        if any(isinstance(f, bool) or not isinstance(f, int) or f < 0 for f in self.png_frames):
            raise ValueError(f"png_frames must be frame indices >= 0, got {self.png_frames!r}")
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown:
            raise ValueError(f"formats: unknown {unknown}; choose from {FORMATS}")
        if "dicom" in self.formats and not self.deidentify:
            raise ValueError(
                "formats: 'dicom' (copies of the instances) is only offered with deidentify=True"
            )


@dataclass
class ExportResult:
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _identity(uid: str) -> str:
    return uid


def _named(instances: Sequence[Any]) -> str:
    """The source files of an export, for messages (the first three, then how many more)."""
    sources = [str(i.path) for i in instances]
    return ", ".join(sources[:3]) + (f" and {len(sources) - 3} more" if len(sources) > 3 else "")


def _check_dicom(path: Path, identifiers, deidentify: bool) -> None:
    import pydicom

    from fetalviewer.dicom.deid import find_identifier_leaks

    try:
        pydicom.dcmread(path, defer_size="1 MB")  # parsed to the end; large values are not loaded
    except Exception as exc:
        raise ExportError(f"{path.name}: written file does not read back as DICOM ({exc})") from exc
    if deidentify:
        leaks = find_identifier_leaks(path, identifiers)
        if leaks:
            raise ExportError(
                f"{path.name}: original identifiers present after de-identification: {', '.join(leaks)}"
            )


def _check_text(path: Path, text: str, identifiers, deidentify: bool) -> None:
    from fetalviewer.dicom.deid import find_text_leaks

    if deidentify:
        leaks = find_text_leaks(text, identifiers)
        if leaks:
            raise ExportError(
                f"{path.name}: original identifiers present in the de-identified export: {', '.join(leaks)}"
            )


def export_exam(
    content,
    instances: Sequence[Any],
    measurements: Sequence[Any],
    out_dir,
    options: ExportOptions,
    progress: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> ExportResult:
    """Write ``content`` (built with ``deidentified=options.deidentify``) in every requested format.

    Meant to run off the GUI thread: ``progress`` gets a short text per format, ``cancel`` is checked
    between formats (a cancelled export leaves nothing behind and raises :class:`ExportError`)."""
    from fetalviewer.dicom.deid import (
        DeidOptions,
        ExportStaging,
        UidMap,
        deidentify_dataset,
        identifier_strings,
    )

    if content.header.deidentified != options.deidentify:
        raise ValueError("content.header.deidentified must match options.deidentify")
    say = progress or (lambda _msg: None)
    deid_options = DeidOptions(date_shift_days=options.date_shift_days)
    uid_map = UidMap()
    map_uid: Callable[[str], str] = uid_map if options.deidentify else _identity
    identifiers: set[str] = set()
    headers: dict[str, Any] = {}
    for inst in instances:
        ds = inst.dataset()
        identifiers |= identifier_strings(ds, deid_options)
        headers[inst.sop_instance_uid] = (
            deidentify_dataset(ds, deid_options, uid_map, path=inst.path) if options.deidentify else ds
        )
    result = ExportResult()
    staging = ExportStaging(out_dir)
    job = _ExportJob(content, instances, measurements, staging, headers, map_uid, uid_map, options, deid_options,
                     identifiers, result)  # fmt: skip
    current = "the export"
    try:
        for fmt in options.formats:
            if cancel is not None and cancel.is_set():
                raise ExportError(f"{staging.out_dir}: export cancelled; nothing was written")
            current = fmt
            say(f"writing {fmt}")
            _WRITERS[fmt](job)
        if not staging.names:
            raise ExportError(f"{staging.out_dir}: nothing to export in formats {', '.join(options.formats)}")
    except FetalViewerError as exc:
        staging.abort()
        if any(str(i.path) in str(exc) for i in instances) or current == "the export":
            raise
        raise ExportError(f"{staging.out_dir}: the {current} export of {_named(instances)}: {exc}") from exc
    except Exception as exc:
        staging.abort()
        raise ExportError(
            f"{staging.out_dir}: the {current} export of {_named(instances)} failed ({type(exc).__name__}: {exc}); "
            "nothing was written"
        ) from exc
    except BaseException:
        staging.abort()
        raise
    result.files = staging.commit()
    return result


# -- one writer per format -------------------------------------------------------------------------------
@dataclass
class _ExportJob:
    """What every format writer gets: the content, the sources, the staging folder and the de-identification
    state shared by the whole export."""

    content: Any
    instances: Any
    measurements: Any
    staging: Any
    headers: dict[str, Any]
    map_uid: Callable[[str], str]
    uid_map: Any
    options: Any
    deid_options: Any
    identifiers: set[str]
    result: Any


def _pdf(job: _ExportJob):
    from fetalviewer.report.pdf import pdf_text, write_pdf

    path = write_pdf(job.content, job.staging.path("report.pdf"))
    if not path.read_bytes().startswith(b"%PDF"):
        raise ExportError(f"{path.name}: the written file is not a PDF")
    if shutil.which("pdftotext"):
        text = pdf_text(path)
        if job.content.title not in text:
            raise ExportError(f"{path.name}: the report text does not read back")
        _check_text(path, text, job.identifiers, job.options.deidentify)
    elif job.options.deidentify:
        job.result.notes.append("report.pdf: pdftotext missing, the PDF text was not checked for identifiers")


def _sr(job: _ExportJob):
    from fetalviewer.report.sr import ObGynSR

    evidence = [job.headers[i.sop_instance_uid] for i in job.instances]
    path = ObGynSR.write(
        ObGynSR.build(job.content, job.measurements, job.instances, evidence, job.map_uid),
        job.staging.path("report_sr.dcm"),
    )
    _check_dicom(path, job.identifiers, job.options.deidentify)
    expected = sum(1 for m in job.measurements if m.value_mm is not None and m.label is not None)
    got = len(ObGynSR.from_file(path).measurements)
    if got != expected:
        raise ExportError(f"{path.name}: reads back {got} measurements, {expected} written")


def _sc(job: _ExportJob):
    from fetalviewer.dicom.deid import write_dataset_atomic
    from fetalviewer.report.capture import build_secondary_captures

    if not job.content.key_frames:
        job.result.notes.append("secondary capture: no key frame (no measurement and no model best frame)")
        return
    for i, sc in enumerate(build_secondary_captures(job.content, job.headers, job.map_uid), start=1):
        path = write_dataset_atomic(sc, job.staging.path(f"keyframe_{i:02d}.dcm"))
        _check_dicom(path, job.identifiers, job.options.deidentify)


def _png(job: _ExportJob):
    from fetalviewer.report.overlay import render_key_frame, write_png
    from fetalviewer.report.video import cine_overlays, write_frame_png

    for i, kf in enumerate(job.content.key_frames, start=1):
        rgb = render_key_frame(kf, clean=job.options.deidentify)
        write_png(rgb, job.staging.path(f"keyframe_{i:02d}.png"))
    for n, inst in enumerate(job.instances, start=1):
        overlays = cine_overlays(job.content, job.measurements, inst) if job.options.png_frames else {}
        for frame in job.options.png_frames:
            if frame >= inst.n_frames:
                job.result.notes.append(f"png: image {n} has {inst.n_frames} frame(s); frame {frame} skipped")
                continue
            write_frame_png(
                inst,
                frame,
                job.staging.path(f"image{n:02d}_frame{frame:04d}.png"),
                overlays.get(frame),
                job.options.deidentify,
            )


def _mp4(job: _ExportJob):
    from fetalviewer.report.video import cine_overlays, read_video_info, write_annotated_video

    cines = [i for i in job.instances if int(i.n_frames) > 1]
    if not cines:
        job.result.notes.append("mp4: no cine (multi-frame) instance in the study")
    for n, inst in enumerate(cines, start=1):
        path = job.staging.path(f"cine_{n:02d}.mp4")
        info = write_annotated_video(
            inst, path, cine_overlays(job.content, job.measurements, inst), clean=job.options.deidentify
        )
        back = read_video_info(path)
        if back.n_frames != info.n_frames:
            raise ExportError(f"{path.name}: reads back {back.n_frames} frames, {info.n_frames} written")


def _csv(job: _ExportJob):
    from fetalviewer.report.tables import read_table_csv, write_measurements_csv, write_predictions_csv

    for name, writer, expected in (
        ("measurements.csv", write_measurements_csv, len(job.content.measurements)),
        ("model_outputs.csv", write_predictions_csv, len(job.content.predictions)),
    ):
        path = writer(job.content, job.staging.path(name), job.map_uid)
        if len(read_table_csv(path)) != expected:
            raise ExportError(f"{name}: reads back a different number of rows than written")
        _check_text(path, path.read_text(encoding="utf-8"), job.identifiers, job.options.deidentify)


def _json(job: _ExportJob):
    from fetalviewer.report.tables import read_report_json, write_report_json

    path = write_report_json(job.content, job.staging.path("report.json"), job.map_uid)
    read_report_json(path)
    _check_text(path, path.read_text(encoding="utf-8"), job.identifiers, job.options.deidentify)


def _dicom(job: _ExportJob):
    from fetalviewer.dicom.deid import deidentify_files

    deidentify_files(
        [i.path for i in job.instances], job.staging.out_dir, job.deid_options, job.uid_map, staging=job.staging
    )


_WRITERS: Mapping[str, Callable] = {
    "pdf": _pdf, "sr": _sr, "sc": _sc, "mp4": _mp4, "png": _png, "csv": _csv, "json": _json, "dicom": _dicom,
}  # fmt: skip
