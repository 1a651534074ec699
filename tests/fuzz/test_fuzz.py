"""Seeded fuzzing in the suite: a short run of fresh mutants, and every mutant that ever failed.

Long runs are made by hand with ``python tools/fuzz.py --count 5000``; a failing seed it prints is
fixed and then added to :data:`REGRESSIONS` with what it once did. The mutant's bytes are made again
from the seed (tests/fuzz/mutate.py), and their sha256 is pinned so that a change to the mutation
engine cannot silently turn a regression into a different file.
"""

from __future__ import annotations

import hashlib
import time

import pytest

from tests.fuzz.harness import Harness
from tests.fuzz.mutate import MUTATIONS, QUICK_SEEDS, SEEDS, SR_SEEDS, mutant

pytest_plugins = ["tests.model_fixtures"]

#: (seed, first 16 hex digits of the mutant's sha256, what it once did).
REGRESSIONS: tuple[tuple[int, str, str], ...] = (
    (32, "ab822a4d817bcda7", "info/deidentify exit 1 on a header pydicom cannot finish reading"),
    (37, "dd504432177270b5", "a sequence nested 3000 deep: RecursionError, exit 1"),
    (38, "212a3007333d2188", "a damaged tag read as a command-group element: the copy could not be written"),
    (
        39,
        "4392827caf70e4d1",
        "a length lie hid a study date in an unknown element (caught by the leak check)",
    ),
    (43, "6aa8a74095814272", "Rows 9600 on RLE data: refused, but exit 1"),
    (47, "397e2a7663a6a5b8", "an unknown VR after a length lie: writing the copy failed, exit 1"),
    (51, "11bee3861b69169e", "a deflate transfer syntax on plain data: zlib error, exit 1"),
    (52, "a4c51d7c934469b6", "a basic offset table pointing nowhere"),
    (54, "7c92833dfd22f861", "NumberOfFrames 2147483647 with swapped fragments"),
    (1037, "74429a60ff423d52", "a bit flip made SOPInstanceUID's VR 'UK': frame reached the crash handler"),
    (
        12462,
        "d92b7b931605be93",
        "Manufacturer's length 24 -> 61886 swallowed the serial number and "
        "institution into one LO value that de-identification kept: a leak (exit 0)",
    ),
    (
        2321,
        "90da6b101c9a5229",
        "32 bit flips: the patient's name, ID, dates and UIDs stayed in the copy, which passed the "
        "built-in leak check (exit 0)",
    ),
    (
        11092,
        "d1f7aba68ed8e7b2",
        "a length flip let Manufacturer swallow InstitutionName's element (tag, VR, length and value) "
        "into a 64-character LO value that was kept: the institution leaked (exit 0)",
    ),
)
#: Mutants of the project's own SR (SR_SEEDS) that made the SR reader raise AttributeError,
#: NotImplementedError or struct.error (the report command would have reached the crash handler).
SR_REGRESSIONS: tuple[tuple[int, str, str], ...] = (
    (6, "e70517e49cc24e3c", "a content item lost its code: AttributeError"),
    (32, "ab6c986aa279944e", "bit flips in the content tree: AttributeError"),
    (56, "8aa238ffb334456c", "an unknown VR inside the tree: NotImplementedError"),
    (65, "521458ad9e9b7067", "zeroed bytes in a code sequence: AttributeError"),
    (73, "4cde098d9bd57e45", "duplicated bytes inside a sequence: struct.error"),
    (70121, "a75dd1fdaf940641", "an unreadable value escaped the Storage SCP's check (NotImplementedError)"),
    (
        71210,
        "71d5875da1d0333d",
        "a tag flip (0010,0020) -> (0018,0020) kept the patient ID as Scanning Sequence, VR LO (exit 0)",
    ),
)
#: Regressions found by the slower commands (analyze with a tiny model, report), mutants of QUICK_SEEDS.
SLOW_REGRESSIONS: tuple[tuple[int, str, str], ...] = (
    (4, "e7a0451a17ab2654", "a damaged RLE segment: report exit 1 (export failed)"),
    (5, "a15454c183f2382a", "PhotometricInterpretation '': analyze and report exit 1"),
)
#: The same, found in long runs over every seed file (SEEDS).
SLOW_REGRESSIONS_ALL_SEEDS: tuple[tuple[int, str, str], ...] = (
    (102125, "803f49ecdebfce1f", "Columns 800 -> 1: the MP4 encoder could not open, exit 2 not naming the file"),
    (102175, "c4c5b5d54edb08e2", "SOP Class UID '...1.6/1': the SR export failed, exit 2 not naming the file"),
    (400116, "7110f9010f473501", "report --deidentify, SOPInstanceUID swallowed by a length lie: crash handler"),
    (400143, "98cef130fbe7920a", "report --deidentify of a patient NAME^PATIENT: refused, the file not named"),
    (410089, "339b8ed8161b0aae", "StudyInstanceUID flipped to empty: report exit 2 naming no file"),
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


@pytest.fixture()
def harness(tmp_path):
    return Harness(tmp_path / "runs")


def test_every_mutation_makes_a_different_file():
    seen = set()
    for name, _, _ in MUTATIONS:
        m = mutant(7, QUICK_SEEDS, only=name)
        assert m.steps and m.data, name
        seen.add(_sha(m.data))
    assert len(seen) >= len(MUTATIONS) - 1  # each mutation changes the bytes (one may coincide)
    assert mutant(123).data == mutant(123).data  # reproducible from the seed


@pytest.mark.parametrize(("seed", "digest", "what"), REGRESSIONS, ids=[str(r[0]) for r in REGRESSIONS])
def test_regression(harness, seed, digest, what):
    m = mutant(seed, SEEDS)
    if digest:
        assert _sha(m.data) == digest, (
            f"the mutation engine changed: seed {seed} no longer makes the same file"
        )
    failures = harness.check(m, ("info", "frame", "deidentify", "sr", "scp"))
    assert not failures, "\n".join(map(str, failures))
    assert not harness.internal_errors


@pytest.mark.parametrize(("seed", "digest", "what"), SR_REGRESSIONS, ids=[str(r[0]) for r in SR_REGRESSIONS])
def test_sr_regression(harness, seed, digest, what):
    m = mutant(seed, SR_SEEDS)
    assert _sha(m.data) == digest, f"the mutation engine or the SR writer changed: seed {seed} differs"
    failures = harness.check(m, ("sr", "scp", "info", "deidentify"))
    assert not failures, "\n".join(map(str, failures))


def test_seeded_run(harness):
    """20 fresh mutants of the small seed files through info, frame, deidentify, the SR reader and the
    Storage-SCP check (the seeds differ from day to day only when this list is changed)."""
    start = time.monotonic()
    failures = []
    for seed in range(100_000, 100_020):
        failures += harness.check(mutant(seed, QUICK_SEEDS), ("info", "frame", "deidentify", "sr", "scp"))
    assert not failures, "\n".join(map(str, failures))
    print(f"20 mutants in {time.monotonic() - start:.1f} s")


def test_seeded_run_slow_commands(tmp_path, tiny_weights, tiny_config, one_torch_thread):
    """analyze (tiny random-weight model), report and report --deidentify on a few mutants and the slow
    regressions."""
    harness = Harness(tmp_path / "runs", tiny_weights, tiny_config)
    failures = []
    regressions = [(s, d, QUICK_SEEDS) for s, d, _ in SLOW_REGRESSIONS]
    regressions += [(s, d, SEEDS) for s, d, _ in SLOW_REGRESSIONS_ALL_SEEDS]
    for seed, digest, files in regressions:
        m = mutant(seed, files)
        assert _sha(m.data) == digest, (
            f"the mutation engine changed: seed {seed} no longer makes the same file"
        )
        failures += harness.check(m, ("analyze", "report", "report-deid"))
    for seed in (200_000, 200_001):
        failures += harness.check(mutant(seed, QUICK_SEEDS), ("analyze", "report"))
    assert not failures, "\n".join(map(str, failures))
