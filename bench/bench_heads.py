"""Benchmark: default head model seconds per frame on this CPU (run by hand; not a test).

    python bench/bench_heads.py [--image PNG] [--repeats 20] [--threads 1 2]

Times ``segment_head`` end to end on one frame (preprocessing, U-Net, resampling the probability to
the original pixels, threshold) and, separately, the mask -> contour -> ellipse fit of the app, and
the UNETR-style decoder forward alone on random ViT-L/14-shaped features (no backbone).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_IMAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "hc18" / "images" / "000_HC.png"


def _time(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--image", default=str(DEFAULT_IMAGE))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--decoder", action="store_true", help="also time the FetalCLIP seg decoder")
    args = parser.parse_args(argv)

    import torch

    from fetalviewer.analysis.geometry import fit_ellipse_to_mask
    from fetalviewer.model.heads.default_head import load_default_head
    from fetalviewer.model.inputs import read_image_file

    image = read_image_file(args.image)
    model = load_default_head()
    print(
        f"CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"image {args.image} {image.shape}, model {model.name} {model.version} input {model.input_size}"
    )
    for threads in args.threads:
        torch.set_num_threads(threads)
        seconds = _time(lambda: model.segment(image), args.repeats)
        print(
            f"segment_head, {threads} thread(s): median {statistics.median(seconds):.3f} s/frame, "
            f"min {min(seconds):.3f}, max {max(seconds):.3f} ({args.repeats} runs)"
        )
    mask = model.segment(image).mask
    fit_seconds = _time(lambda: fit_ellipse_to_mask(mask), args.repeats)
    print(f"mask -> contour -> ellipse: median {statistics.median(fit_seconds):.4f} s")
    if args.decoder:
        from fetalviewer.model.heads.seg_decoder import SegDecoderSpec, build_seg_decoder

        decoder = build_seg_decoder(SegDecoderSpec(width=1024)).eval()
        feats, pixels = torch.randn(1, 4, 1024, 14, 14), torch.randn(1, 3, 224, 224)
        with torch.inference_mode():
            seconds = _time(lambda: decoder(feats, pixels), max(3, args.repeats // 4))
        params = sum(p.numel() for p in decoder.parameters())
        print(
            f"UNETR-style decoder ({params / 1e6:.2f} M params) forward, no backbone: "
            f"median {statistics.median(seconds):.3f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
