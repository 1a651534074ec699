"""The held-out HC check, through the real command line: ``fetalviewer analyze --pixel-size-mm`` on
the HC18 images of the default head's held-out split, scored by ``fetalviewer measure evaluate-hc``.

    python bench/heldout_hc_via_analyze.py --data PATH/TO/hc18 --out build/heldout_analyze

Every image has its own published pixel size, so ``analyze`` runs once per image (in this process,
through ``fetalviewer.cli.main``; the head model is loaded once). Writes ``analyze_all.json`` (the
frames of all runs), ``heldout_truth.csv`` and ``evaluation.json`` to ``--out``; prints the mean
absolute HC difference, the share of Hadlock GA in the WHO band of the true HC, and the time per image.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fetalviewer import cli  # noqa: E402
from fetalviewer.atomic import write_text_atomic  # noqa: E402
from fetalviewer.model.heads.hc18_data import read_hc18  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "hc18"))
    parser.add_argument("--out", default="build/heldout_analyze")
    parser.add_argument("--limit", type=int, default=0, help="first N held-out images only (0 = all)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    items = [i for i in read_hc18(args.data) if i.held_out]
    if args.limit:
        items = items[: args.limit]
    truth = out / "heldout_truth.csv"
    write_text_atomic(truth, "filename,pixel size(mm),head circumference (mm)\n" + "".join(
        f"{i.filename},{i.pixel_size_mm},{i.hc_mm}\n" for i in items))
    frames, seconds = [], []
    for k, item in enumerate(items):
        target = out / "per_image" / f"{Path(item.filename).stem}.json"
        target.parent.mkdir(exist_ok=True)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            rc = cli.main(["analyze", str(item.image_path), "--pixel-size-mm", str(item.pixel_size_mm),
                           "--json", str(target)])
        seconds.append(time.perf_counter() - t0)
        if rc != 0:
            print(f"{item.filename}: analyze exited {rc}", file=sys.stderr)
            continue
        frames.extend(json.loads(target.read_text())["frames"])
        print(f"\r{k + 1}/{len(items)} images", end="", flush=True)
    print()
    merged = out / "analyze_all.json"
    write_text_atomic(merged, json.dumps({"frames": frames}, indent=1))
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        cli.main(["measure", "evaluate-hc", str(merged), str(truth), "--json"])
    write_text_atomic(out / "evaluation.json", buffer.getvalue())
    cli.main(["measure", "evaluate-hc", str(merged), str(truth)])
    steady = seconds[1:] or seconds
    print(f"analyze per image (in-process, model cached after the first): mean {sum(steady) / len(steady):.2f} s, "
          f"first {seconds[0]:.2f} s; {len(items)} held-out images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
