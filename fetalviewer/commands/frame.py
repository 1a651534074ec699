"""``fetalviewer frame PATH --index N --out FILE.png``: write one frame exactly as displayed."""

from __future__ import annotations

import argparse
import sys

from fetalviewer.errors import FetalViewerError

NAME = "frame"
HELP = "write frame N of a DICOM instance as a PNG, as displayed (after colour conversion, no overlays)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="a DICOM file")
    parser.add_argument("--index", type=int, default=0, metavar="N", help="0-based frame index (default 0)")
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

    try:
        loop = open_instance(args.path)
    except FetalViewerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        if not 0 <= args.index < loop.n_frames:
            print(
                f"error: {args.path}: frame index {args.index} is out of range 0..{loop.n_frames - 1}",
                file=sys.stderr,
            )
            return 2
        array = loop.frame(args.index)
        write_png(array, args.out)
    except FetalViewerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {args.out}: could not be written ({exc})", file=sys.stderr)
        return 1
    finally:
        loop.close()
    print(
        f"{args.out}: frame {args.index} of {loop.n_frames}, {loop.columns}x{loop.rows}, "
        f"{'RGB' if array.ndim == 3 else 'gray'}"
    )
    return 0
