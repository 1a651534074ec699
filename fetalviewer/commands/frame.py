"""``fetalviewer frame PATH --index N --out FILE.png``: write one frame exactly as displayed."""

from __future__ import annotations

import argparse

from fetalviewer.analysis.frame_numbers import frame_label
from fetalviewer.errors import UsageError

NAME = "frame"
HELP = "write frame N of a DICOM instance as a PNG, as displayed (after colour conversion, no overlays)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="a DICOM file")
    parser.add_argument(
        "--index", type=int, default=0, metavar="N", help="0-based frame index (default 0, the first frame)"
    )
    parser.add_argument("--out", required=True, metavar="FILE.png", help="PNG file to write")


def write_png(array, out_path: str) -> None:
    """Write a uint8 gray or RGB array as a PNG atomically."""
    import io

    from PIL import Image

    from fetalviewer.atomic import write_bytes_atomic

    mode = "L" if array.ndim == 2 else "RGB"
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    write_bytes_atomic(out_path, buffer.getvalue())


def run(args: argparse.Namespace) -> int:
    from fetalviewer.dicom import open_instance

    loop = open_instance(args.path)  # a file that is not readable DICOM: exit 2 with the reason
    try:
        if not 0 <= args.index < loop.n_frames:
            raise UsageError(
                f"{args.path}: frame index {args.index} is out of range 0..{loop.n_frames - 1} (0-based)"
            )
        array = loop.frame(args.index)
        write_png(array, args.out)
    finally:
        loop.close()
    print(
        f"{args.out}: {frame_label(args.index, loop.n_frames)}, {loop.columns}x{loop.rows}, "
        f"{'RGB' if array.ndim == 3 else 'gray'}"
    )
    return 0
