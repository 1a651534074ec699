"""All-or-nothing export of de-identified copies: staging folder, atomic writes, read-back check."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from fetalviewer.atomic import atomic_path
from fetalviewer.dicom.deid.leaks import find_identifier_leaks, identifier_strings
from fetalviewer.dicom.deid.profile import DeidOptions, UidMap
from fetalviewer.errors import ExportError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class ExportStaging:
    """All-or-nothing export into ``out_dir``: files are written into a hidden staging folder beside
    their targets and moved into place only by :meth:`commit`; any failure removes everything staged."""

    def __init__(self, out_dir: Path | str) -> None:
        self.out_dir = Path(out_dir)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.staging_dir = Path(tempfile.mkdtemp(prefix=".fetalviewer-export-", dir=self.out_dir))
        except OSError as exc:
            raise ExportError(f"{self.out_dir}: cannot create the export folder ({exc})") from exc
        self.names: list[str] = []

    def path(self, name: str) -> Path:
        """Staged path for output file ``name`` (a plain file name, unique within the export)."""
        if not name or Path(name).name != name or name.startswith("."):
            raise ValueError(f"name must be a plain file name, got {name!r}")
        if name in self.names:
            raise ValueError(f"name {name!r} is already part of this export")
        self.names.append(name)
        return self.staging_dir / name

    def commit(self) -> list[Path]:
        moved: list[Path] = []
        try:
            for name in self.names:
                if (self.staging_dir / name).exists():
                    os.chmod(self.staging_dir / name, 0o644 & ~_current_umask())
                    os.replace(self.staging_dir / name, self.out_dir / name)
                    moved.append(self.out_dir / name)
        except OSError as exc:
            for path in moved:
                with contextlib.suppress(OSError):
                    path.unlink()
            self.abort()
            raise ExportError(f"{self.out_dir / name}: cannot move the export into place ({exc})") from exc
        shutil.rmtree(self.staging_dir, ignore_errors=True)
        return moved

    def abort(self) -> None:
        shutil.rmtree(self.staging_dir, ignore_errors=True)

    def __enter__(self) -> ExportStaging:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


def write_dataset_atomic(ds: Dataset, target: Path | str) -> Path:
    """Save ``ds`` as a DICOM Part 10 file through a temporary file and a rename."""
    with atomic_path(target) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return Path(target)


@dataclass(frozen=True)
class DeidExported:
    """One de-identified file: where it came from and where it went (inside the export folder)."""

    source: Path
    output: Path
    sop_instance_uid: str


def deidentify_files(
    paths, out_dir: Path | str, options: DeidOptions, uid_map: UidMap | None = None, staging=None
) -> list[DeidExported]:
    """De-identify DICOM files into ``out_dir`` (names ``DEID_0001.dcm``...), then read every written
    file back and check it for the original identifiers; all-or-nothing.

    With ``staging`` (an :class:`ExportStaging` owned by a larger export) files are only staged and
    the caller commits. Raises :class:`ExportError` naming the file and the problem.
    """
    uid_map = uid_map or UidMap()
    own = staging is None
    staging = ExportStaging(out_dir) if own else staging
    written: list[tuple[Path, Path, str, frozenset[str], set[str], int | None]] = []
    try:
        for number, source in enumerate(paths, start=1):
            source = Path(source)
            name = f"DEID_{number:04d}.dcm"
            uid, identifiers, removed, frames = _deidentify_file(source, staging.path(name), options, uid_map)
            written.append((source, staging.staging_dir / name, uid, identifiers, removed, frames))
        for source, staged, _, identifiers, removed, frames in written:
            leaks = find_identifier_leaks(staged, identifiers, removed)
            if leaks:
                raise ExportError(
                    f"{staged.name} (from {source}): original identifiers still present after "
                    f"de-identification: {', '.join(leaks)}; nothing was exported"
                )
            _check_read_back(staged, source, frames)
    except BaseException:
        if own:
            staging.abort()
        raise
    if own:
        staging.commit()
    return [DeidExported(src, staging.out_dir / staged.name, uid) for src, staged, uid, *_ in written]


def _read_header(source: Path):
    """The header without pixel data; elements too damaged to read are dropped (never copied)."""
    from fetalviewer.dicom.integrity import drop_damaged_elements

    try:
        with open(source, "rb") as fh:
            ds = pydicom.dcmread(fh, stop_before_pixels=True)
        drop_damaged_elements(ds.file_meta)
        drop_damaged_elements(ds)
        return ds
    except Exception as exc:
        raise ExportError(f"{source}: not readable as DICOM ({type(exc).__name__}: {exc})") from None


def _deidentify_file(source: Path, target: Path, options: DeidOptions, uid_map: UidMap):
    """Write the de-identified copy of ``source`` at ``target`` (atomically); returns (its SOP
    Instance UID, the original identifiers, the values removed from the header (:mod:`.removed`),
    frames written or None for an instance without pixels).

    The header is read without the pixel data; elements out of the file's tag order are dropped
    (:mod:`.damage`). An image's frames are streamed from the DICOM engine, cleaned and appended one
    by one (:mod:`.stream`), so memory does not grow with the frame count."""
    from fetalviewer.dicom.deid.damage import drop_out_of_order
    from fetalviewer.dicom.deid.profile import deidentify_header, imaging_boxes_or_refuse
    from fetalviewer.dicom.deid.stream import write_streamed
    from fetalviewer.dicom.instance import open_instance
    from fetalviewer.errors import DicomReadError

    header = _read_header(source)
    removed: set[str] = set()
    try:
        drop_out_of_order(header, removed)
        identifiers = identifier_strings(header, options)
    except Exception as exc:
        raise ExportError(
            f"{source}: identifying attributes cannot be read ({type(exc).__name__}: {exc})"
        ) from None
    try:
        loop = open_instance(source, cache_mb=0)
    except DicomReadError as exc:
        if "no pixel data" not in str(exc):
            raise ExportError(f"{exc}; nothing was exported") from None
        loop = None
    try:
        if loop is not None and not options.clean_pixels:
            raise ExportError(f"{source}: images are only exported with their pixel data cleaned")
        boxes = imaging_boxes_or_refuse(header, source) if loop is not None else []
        try:
            clean = deidentify_header(header, options, uid_map, has_pixels=loop is not None, removed=removed)
            with atomic_path(target) as tmp:
                if loop is None:
                    clean.save_as(tmp, enforce_file_format=True)
                    frames = None
                else:
                    frames = write_streamed(clean, loop, boxes, tmp, source)
        except ExportError:
            raise
        except Exception as exc:
            raise ExportError(
                f"{source}: writing the de-identified copy {target.name} failed ({type(exc).__name__}: {exc})"
            ) from None
    finally:
        if loop is not None:
            loop.close()
    return str(clean.SOPInstanceUID), identifiers, removed, frames


def _check_read_back(staged: Path, source: Path, frames: int | None) -> None:
    """The written copy must open again, with every frame written and no integrity problem."""
    from fetalviewer.dicom.instance import open_instance
    from fetalviewer.errors import DicomReadError

    if frames is None:
        _read_header(staged)
        return
    try:
        with open_instance(staged, cache_mb=0) as back:
            if back.n_frames != frames or back.layout.problems:
                problems = "; ".join(back.layout.problems)
                raise ExportError(
                    f"{staged.name} (from {source}): reads back {back.n_frames} frame(s) of {frames} written {problems}"
                )
            back.frame(back.n_frames - 1)
    except DicomReadError as exc:
        raise ExportError(
            f"{staged.name} (from {source}): the written copy does not read back ({exc})"
        ) from None
