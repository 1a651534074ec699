"""Load a study from files, folders (recursively) and DICOMDIR media; a bad file never stops the rest.

DICOMDIR (PS3.10 / PS3.3 F Basic Directory IOD) is read with ``pydicom.fileset.FileSet``; the image
records it references are opened, the directory file itself is not an image.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fetalviewer.dicom.instance import DEFAULT_CACHE_MB, CineLoop, open_instance
from fetalviewer.errors import DecoderMissing, DicomReadError

#: Names never tried as DICOM inside folders (they are not images and would only add noise).
_SKIP_NAMES = {"thumbs.db", ".ds_store", "desktop.ini", "autorun.inf"}

#: ``integrity``: the file opened, but its header claims more or other than its pixel data holds
#: (the instance is shown with what it really holds; see :mod:`.integrity`).
PROBLEM_KINDS = ("not_dicom", "no_pixel_data", "decoder_missing", "unreadable", "duplicate", "integrity")


@dataclass(frozen=True)
class LoadProblem:
    """A path that could not be opened and why (``message`` names the file)."""

    path: str
    message: str
    kind: str = "unreadable"

    def __post_init__(self) -> None:
        if not self.message:
            raise ValueError("LoadProblem.message must not be empty")
        if self.kind not in PROBLEM_KINDS:
            raise ValueError(f"LoadProblem.kind must be one of {PROBLEM_KINDS}, got {self.kind!r}")


@dataclass
class StudyLoad:
    """The instances that opened (sorted by study, series, instance number) and the problems."""

    instances: list[CineLoop] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    #: Non-DICOM files met while walking a folder (README, viewer software, ...): not problems.
    skipped: list[str] = field(default_factory=list)

    def close(self) -> None:
        for instance in self.instances:
            instance.close()

    @property
    def study_uids(self) -> list[str]:
        return sorted({i.study_instance_uid for i in self.instances})


def _is_dicomdir(path: Path) -> bool:
    return path.name.upper() == "DICOMDIR"


def _resolve_case_insensitive(root: Path, parts: Iterable[str]) -> Path | None:
    """Find ``root/part/...`` ignoring case (CDs mounted on Linux often show lower-case names)."""
    current = root
    for part in parts:
        candidate = current / part
        if not candidate.exists():
            try:
                matches = [p for p in current.iterdir() if p.name.lower() == part.lower()]
            except OSError:
                return None
            if not matches:
                return None
            candidate = matches[0]
        current = candidate
    return current


def _dicomdir_files(path: Path, problems: list[LoadProblem]) -> list[tuple[Path, bool]]:
    """(file, is a non-image record) for every file a DICOMDIR references (PS3.3 F.5).

    The directory records are read directly (not through ``pydicom.fileset``, which silently
    drops records whose file is missing) so that a missing file is reported.
    """
    try:
        import pydicom

        ds = pydicom.dcmread(path)
        records = list(ds.DirectoryRecordSequence)
    except Exception as exc:
        problems.append(LoadProblem(str(path), f"{path}: DICOMDIR could not be read ({exc})", "unreadable"))
        return []
    files: list[tuple[Path, bool]] = []
    for record in records:
        file_id = record.get("ReferencedFileID")
        if not file_id:
            continue
        parts = [str(file_id)] if isinstance(file_id, str) else [str(p) for p in file_id]
        listed = path.parent.joinpath(*parts)
        found = listed if listed.is_file() else _resolve_case_insensitive(path.parent, parts)
        if found is not None and found.is_file():
            files.append((found, str(record.get("DirectoryRecordType", "")).upper() != "IMAGE"))
        else:
            problems.append(
                LoadProblem(
                    str(listed), f"{listed}: listed in {path} but not found on the media", "unreadable"
                )
            )
    return files


def _expand(paths: Iterable[str | os.PathLike[str]], problems: list[LoadProblem]) -> list[tuple[Path, bool]]:
    """(file, quiet) for every candidate file; quiet files (met while walking a folder, or non-image
    DICOMDIR records) that turn out not to be images are skipped rather than reported."""
    files: list[tuple[Path, bool]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            dicomdir = path / "DICOMDIR"
            for root, dirs, names in os.walk(path):
                dirs.sort()
                for name in sorted(names):
                    if name.lower() in _SKIP_NAMES or name.startswith("."):
                        continue
                    candidate = Path(root) / name
                    if _is_dicomdir(candidate):
                        continue  # its records are the files found by the walk itself
                    files.append((candidate, True))
            if dicomdir.is_file():
                files.extend(_dicomdir_files(dicomdir, problems))
        elif _is_dicomdir(path) and path.is_file():
            files.extend(_dicomdir_files(path, problems))
        elif path.exists():
            files.append((path, False))
        else:
            problems.append(LoadProblem(str(path), f"{path}: file not found", "unreadable"))
    return files


def list_files(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
) -> tuple[list[tuple[Path, bool]], list[LoadProblem]]:
    """Every candidate file under ``paths`` without opening any: folders walked, DICOMDIR records
    followed, the same file reached twice listed once. Returns ``([(file, walked), ...], problems)``;
    ``walked`` is True for files met while walking a folder or listed as non-image DICOMDIR records
    (the ones :func:`load_study` skips quietly when they hold no image)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    problems: list[LoadProblem] = []
    seen: set[Path] = set()
    files: list[tuple[Path, bool]] = []
    for path, walked in _expand(paths, problems):
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append((path, walked))
    return files, problems


def _kind(exc: DicomReadError) -> str:
    text = str(exc)
    if isinstance(exc, DecoderMissing):
        return "decoder_missing"
    if "not a DICOM file" in text:
        return "not_dicom"
    if "no pixel data" in text:
        return "no_pixel_data"
    return "unreadable"


def _sort_key(loop: CineLoop) -> tuple:
    def number(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            return 1 << 30

    return (
        loop.study_instance_uid,
        number(loop.header.series_number),
        loop.series_instance_uid,
        number(loop.header.instance_number),
        str(loop.path),
    )


def load_study(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    cache_mb: float = DEFAULT_CACHE_MB,
    progress: Callable[[int, int], None] | None = None,
) -> StudyLoad:
    """Open every image instance under ``paths``; failures go to ``problems`` with a reason.

    Files named directly or as DICOMDIR image records that fail are problems; files without an
    image met while walking a folder (READMEs, viewer software, reports) or non-image DICOMDIR
    records are listed in ``skipped`` instead.

    ``progress(done, total)`` is called after each file when given. The same file reached twice
    (e.g. through a folder and its DICOMDIR) is opened once; a second copy of an already opened
    SOP Instance UID is reported as a duplicate.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    result = StudyLoad()
    seen_uids: dict[str, Path] = {}
    files, result.problems = list_files(paths)
    for done, (path, walked) in enumerate(files, start=1):
        try:
            loop = open_instance(path, cache_mb=cache_mb)
        except DicomReadError as exc:
            kind = _kind(exc)
            if walked and kind in ("not_dicom", "no_pixel_data"):
                result.skipped.append(str(path))
            else:
                result.problems.append(LoadProblem(str(path), str(exc), kind))
        except Exception as exc:  # never let one file stop the study
            result.problems.append(
                LoadProblem(str(path), f"{path}: could not be opened ({type(exc).__name__}: {exc})")
            )
        else:
            first = seen_uids.get(loop.sop_instance_uid)
            if first is not None and loop.sop_instance_uid:
                result.problems.append(
                    LoadProblem(str(path), f"{path}: same SOP Instance UID as {first}; skipped", "duplicate")
                )
                loop.close()
            else:
                seen_uids[loop.sop_instance_uid] = path
                result.instances.append(loop)
                result.problems.extend(
                    LoadProblem(str(path), f"{path}: {problem}", "integrity") for problem in loop.layout.problems
                )
        if progress is not None:
            progress(done, len(files))
    result.instances.sort(key=_sort_key)
    return result
