"""``fetalviewer info PATH... [--json]``: what the DICOM engine sees in each instance."""

from __future__ import annotations

import argparse
import json
import sys

from fetalviewer.commands.options import add_paths_argument

NAME = "info"
HELP = "print frames, size, colour, transfer syntax, frame timing and ultrasound regions of DICOM files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_paths_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")


def _region_line(region: dict) -> str:
    x0, y0, x1, y1 = region["box"]
    if region["mm_per_px_x"] is not None and region["mm_per_px_y"] is not None:
        scale = f"{region['mm_per_px_x']:.4f} x {region['mm_per_px_y']:.4f} mm/px"
    else:
        scale = "uncalibrated (units not cm on both axes)"
    units = (
        region["units_x"]
        if region["units_x"] == region["units_y"]
        else f"{region['units_x']} x {region['units_y']}"
    )
    return (
        f"    region {region['index']}: box ({x0},{y0})-({x1},{y1}), {region['spatial_format_name']} "
        f"{region['data_type_name']}, units {units}, {scale}"
    )


def format_table(instances: list[dict], problems: list[dict], skipped: list[str] | None = None) -> str:
    lines: list[str] = []
    for info in instances:
        lines.append(info["path"])
        lines.append(f"  SOP Instance UID:  {info['sop_instance_uid']}")
        lines.append(
            f"  Frames:            {info['frames']}   size {info['columns']} x {info['rows']} (columns x rows)"
        )
        lines.append(f"  Photometric:       {info['photometric_interpretation']}")
        lines.append(f"  Transfer syntax:   {info['transfer_syntax']} ({info['transfer_syntax_uid']})")
        lines.append(
            f"  Frame time:        {info['frame_time_ms']:.3f} ms = {info['fps']:.2f} fps "
            f"(source: {info['timing_source']}; play frames {info['start_trim']}..{info['stop_trim']}, "
            f"{info['sequencing']})"
        )
        if info["regions"]:
            lines.append(f"  Ultrasound regions ({len(info['regions'])}):")
            lines.extend(_region_line(r) for r in info["regions"])
        else:
            lines.append("  Ultrasound regions: none (measurements are uncalibrated)")
        for warning in info.get("warnings", []):
            lines.append(f"  Warning:           {warning}")
        if info.get("pixel_spacing_mm"):
            row_mm, col_mm = info["pixel_spacing_mm"]
            lines.append(f"  Pixel spacing:     {row_mm} x {col_mm} mm (row x column)")
        lines.append("")
    if skipped:
        lines.append(f"Skipped {len(skipped)} non-DICOM file(s) found in folders.")
    # Integrity problems of opened files are already listed under their file as warnings.
    problems = [p for p in problems if p.get("kind") != "integrity"]
    if problems:
        lines.append(f"Problems ({len(problems)}):")
        lines.extend(f"  {p['message']}" for p in problems)
    return "\n".join(lines).rstrip() + "\n"


def run(args: argparse.Namespace) -> int:
    from fetalviewer.dicom import load_study
    from fetalviewer.dicom.instance import STREAM_CACHE_MB

    study = load_study(args.paths, cache_mb=STREAM_CACHE_MB)
    try:
        instances = [loop.summary() for loop in study.instances]
        problems = [{"path": p.path, "kind": p.kind, "message": p.message} for p in study.problems]
        skipped = list(study.skipped)
    finally:
        study.close()
    if args.json:
        json.dump({"instances": instances, "problems": problems, "skipped": skipped}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_table(instances, problems, skipped))
    return 0 if instances else 2  # every path named was refused (its problem printed above)
