"""Peak memory (RSS) of ``fetalviewer receive`` and ``fetalviewer send`` while a long cine crosses the
network on loopback, each in its own process.

    python bench/bench_receive_memory.py                 # 2,000-frame 480x640 JPEG cine
    python bench/bench_receive_memory.py --frames 500
    python bench/bench_receive_memory.py --native        # an uncompressed 8-bit gray cine instead

The cine is bench_memory.py's (pydicom's ``color3d_jpeg_baseline.dcm`` frames repeated). ``receive`` runs
as a child process with its own FETALVIEWER_HOME (tests/fuzz/scp_process.py); its peak RSS is its VmHWM
read after the instance is stored. ``send`` runs through ``fetalviewer.cli.main`` in a fresh interpreter
that reports its own VmHWM (bench_memory.run). The ceiling asked of every command is 1 GB.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--native", action="store_true", help="an uncompressed 8-bit gray cine instead")
    args = parser.parse_args()
    from bench.bench_memory import run
    from tests.fuzz.scp_process import SCP_AET, ScpProcess
    from tests.helpers import write_jpeg_cine, write_native_cine

    work = Path(tempfile.mkdtemp(prefix="fetalviewer-recvbench-"))
    kind = "native" if args.native else "jpeg"
    cine = (write_native_cine if args.native else write_jpeg_cine)(work / f"cine_{kind}.dcm", args.frames)
    print(
        f"{kind} cine: {args.frames} frames of 480x640, file {cine.stat().st_size / 2**20:.0f} MB", flush=True
    )
    sender_env = {**os.environ, "FETALVIEWER_HOME": str(work / "sender"), "QT_QPA_PLATFORM": "offscreen",
                  "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}  # fmt: skip
    with ScpProcess(work / "scp", allow=("FETALVIEWER",)) as scp:
        idle = scp.peak_rss_mb()
        node = ["nodes", "add", "BENCHSCP", "--aet", SCP_AET, "--host", "127.0.0.1", "--port", str(scp.port)]
        if run(node, sender_env)["code"] != 0:
            raise RuntimeError("nodes add failed")
        start = time.perf_counter()
        sent = run(["send", "BENCHSCP", str(cine)], sender_env)
        seconds = time.perf_counter() - start
        stored = [p for p in scp.archive_dir.rglob("*.dcm")]
        peak = scp.peak_rss_mb()
    print(f"  receive      peak RSS {peak:7.0f} MB (idle {idle:.0f} MB); stored {len(stored)} file(s) "
          f"of {sum(p.stat().st_size for p in stored) / 2**20:.0f} MB")  # fmt: skip
    print(f"  send         exit {sent['code']}  peak RSS {sent['maxrss_mb']:7.0f} MB  ({seconds:.0f} s)")
    return 0 if sent["code"] == 0 and stored else 1


if __name__ == "__main__":
    sys.exit(main())
