"""``fetalviewer deidentify PATH... --out DIR``: de-identified copies of DICOM instances (PS3.15 Basic
Profile with Clean Pixel Data; dates removed, or shifted with ``--shift-dates-days``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fetalviewer.commands.options import add_paths_argument

NAME = "deidentify"
HELP = (
    "write de-identified copies of DICOM files (PS3.15 basic profile, burned-in text blacked out "
    "outside the 2D image region, UIDs remapped, dates removed or shifted)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_paths_argument(parser, help="DICOM files or folders (searched recursively)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the de-identified files")
    dates = parser.add_mutually_exclusive_group()
    dates.add_argument(
        "--shift-dates-days",
        type=int,
        metavar="N",
        help="shift every date by N days (times kept; method code 113107)",
    )
    dates.add_argument("--remove-dates", action="store_true", help="remove every date and time (the default)")


def collect_dicom_files(paths) -> tuple[list[Path], list[str]]:
    """DICOM files under ``paths`` (folders recursively, sorted); notes for what was skipped."""
    from pydicom.misc import is_dicom

    files: list[Path] = []
    skipped: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            candidates = [path]
        else:
            skipped.append(f"{path}: no such file or folder")
            continue
        for candidate in candidates:
            if candidate.name.upper() == "DICOMDIR":
                skipped.append(f"{candidate}: DICOMDIR index skipped (its instances are exported)")
            elif not is_dicom(candidate):
                skipped.append(f"{candidate}: not a DICOM file, skipped")
            else:
                files.append(candidate)
    return files, skipped


def run(args: argparse.Namespace) -> int:
    from fetalviewer.dicom.deid import DeidOptions, deidentify_files
    from fetalviewer.errors import ExportError, FetalViewerError, UsageError

    files, skipped = collect_dicom_files(args.paths)
    for note in skipped:
        print(note, file=sys.stderr)
    if not files:
        raise UsageError(f"no DICOM files to export in {', '.join(map(str, args.paths))}")
    try:
        options = DeidOptions(date_shift_days=args.shift_dates_days)
        exported = deidentify_files(files, args.out, options)
    except (FetalViewerError, ValueError) as exc:  # refused (e.g. pixels that cannot be cleaned)
        raise ExportError(f"export failed, nothing was written to {args.out}: {exc}") from exc
    for item in exported:
        print(f"{item.source} -> {item.output}")
    print(f"{len(exported)} file(s) de-identified into {args.out}; every file re-read: no identifier found")
    return 0
