"""Long fuzz runs by hand: mutants of pydicom's ultrasound test files through the commands in-process.

    python tools/fuzz.py --count 5000                     # info, frame, deidentify, SR reader, SCP check
    python tools/fuzz.py --count 500 --start 9000 --commands info,analyze,report --every 1
    python tools/fuzz.py --seed 1234 -v                   # replay one mutant and show what it does
    python tools/fuzz.py --count 1500 --commands scp-net  # over DIMSE to a real `fetalviewer receive`

Every mutant is made again from its seed number (tests/fuzz/mutate.py), so a failure is reported as a
seed to add to tests/fuzz/test_fuzz.py's regression list; no mutated file is kept. ``analyze`` (a tiny
random-weight model, written to the scratch folder) and ``report`` are slower: they run on every
``--every``-th mutant. ``--memory-gb`` caps the address space so an allocation from a header claim
fails loudly (MemoryError is counted as a failure) instead of swapping. ``scp-net`` starts one
``fetalviewer receive`` child on 127.0.0.1 for the run, first tries the hostile whole-association cases
(tests/fuzz/scp_hostile.py) on it, and stops it at the end whatever happens.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def tiny_model(folder: Path) -> tuple[Path, Path]:
    from tests.model_fixtures import TINY_CONFIG, save_official, tiny_state_dict

    return save_official(tiny_state_dict(seed=0), folder / "tiny_fetalclip.pt"), TINY_CONFIG


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000, help="number of mutants (default 1000)")
    parser.add_argument("--start", type=int, default=0, help="first seed number (default 0)")
    parser.add_argument("--seed", type=int, help="run only this one mutant")
    parser.add_argument(
        "--commands", default="info,frame,deidentify,sr,scp,analyze,report",
        help="comma list of info,frame,deidentify,sr,scp,scp-net,analyze,report",
    )  # fmt: skip
    parser.add_argument(
        "--every", type=int, default=25, help="analyze/report on every Nth mutant (default 25)"
    )
    parser.add_argument("--quick-seeds", action="store_true", help="only the small seed files")
    parser.add_argument("--sr", action="store_true", help="mutate the project's own OB-GYN SR instead")
    parser.add_argument("--memory-gb", type=float, default=0, help="address-space cap (0: none)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("FETALVIEWER_HOME", tempfile.mkdtemp(prefix="fetalviewer-fuzz-home-"))
    if args.memory_gb:
        limit = int(args.memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import torch

    torch.set_num_threads(1)
    from tests.fuzz.harness import COMMANDS, Harness
    from tests.fuzz.mutate import QUICK_SEEDS, SEEDS, SR_SEEDS

    commands = [c.strip() for c in args.commands.split(",") if c.strip()]
    unknown = set(commands) - set(COMMANDS)
    if unknown:
        parser.error(f"unknown commands {sorted(unknown)}")
    work = Path(tempfile.mkdtemp(prefix="fetalviewer-fuzz-"))
    weights, config = tiny_model(work) if {"analyze", "report", "report-deid"} & set(commands) else (None, None)
    harness = Harness(work / "runs", weights, config)
    seeds = [args.seed] if args.seed is not None else range(args.start, args.start + args.count)
    files = SR_SEEDS if args.sr else (QUICK_SEEDS if args.quick_seeds else SEEDS)
    failures = []
    per_command: dict[str, int] = {}
    start = time.monotonic()
    try:
        failures += run_seeds(harness, seeds, files, commands, args, per_command, start)
        statuses = harness.net_statuses()
    finally:
        harness.close()
    elapsed = time.monotonic() - start
    print(
        f"done: {len(seeds)} mutants in {elapsed:.0f} s; runs per command {per_command}; failures {len(failures)}"
    )
    if statuses:
        print(f"scp-net C-STORE replies: {statuses}")
    failing = sorted({f.mutant.seed for f in failures if hasattr(f, "mutant")})
    if failing:
        print("failing seeds:", ",".join(map(str, failing)))
    return 1 if failures else 0


def run_seeds(harness, seeds, files, commands, args, per_command, start) -> list:
    from tests.fuzz.harness import SLOW_COMMANDS
    from tests.fuzz.mutate import mutant

    failures: list = []
    if "scp-net" in commands and args.seed is None:
        for problem in harness.hostile_associations():
            print(f"FAIL hostile association: {problem}", flush=True)
            failures.append(problem)
    for n, seed in enumerate(seeds, start=1):
        m = mutant(seed, files)
        chosen = [
            c for c in commands if c not in SLOW_COMMANDS or seed % args.every == 0 or args.seed
        ]
        for c in chosen:
            per_command[c] = per_command.get(c, 0) + 1
        found = harness.check(m, chosen)
        if args.verbose:
            print(m.describe(), "->", "ok" if not found else "FAIL", flush=True)
        for failure in found:
            print(f"FAIL {failure}", flush=True)
        failures += found
        if n % 100 == 0:
            print(f"{n} mutants, {len(failures)} failure(s), {time.monotonic() - start:.0f} s", flush=True)
    return failures


if __name__ == "__main__":
    sys.exit(main())
