"""Seeded network fuzzing of the Storage SCP: a real ``fetalviewer receive`` child on 127.0.0.1 gets
hostile associations, every mutant that once broke it, and a short run of fresh mutants, each sent as
its mutated bytes over DIMSE (tests/fuzz/scp_net.py). Long runs by hand:
``python tools/fuzz.py --count 1500 --commands scp-net``.
"""

from __future__ import annotations

import hashlib
import time

import pytest

from tests.fuzz.harness import Harness
from tests.fuzz.mutate import QUICK_SEEDS, SEEDS, Mutant, mutant, seed_bytes

#: (seed of SEEDS, first 16 hex digits of the mutant's sha256, what the SCP once did with it).
NET_REGRESSIONS: tuple[tuple[int, str, str], ...] = (
    (
        37,
        "dd504432177270b5",
        "a sequence nested 3000 deep: RecursionError escaped the handler, answered 0xC211",
    ),
    (
        425,
        "42b69a51541f78af",
        "cut inside a sequence item: OSError while decoding, answered 0xA700 (out of resources)",
    ),
    (444, "afcb73a383c37a4e", "4 bit flips in a sequence: OSError while decoding, answered 0xA700"),
    (714, "cd6ae62df70e3b16", "a sequence nested 500 deep in an RLE file: RecursionError, answered 0xC211"),
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    """One SCP child for the module, stopped by PID even when a test fails."""
    harness = Harness(tmp_path_factory.mktemp("scp-net"))
    try:
        harness.net_target()
        yield harness
    finally:
        harness.close()


def test_hostile_associations(net):
    problems = net.hostile_associations()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("seed", "digest", "what"), NET_REGRESSIONS, ids=[str(r[0]) for r in NET_REGRESSIONS]
)
def test_net_regression(net, seed, digest, what):
    m = mutant(seed, SEEDS)
    if digest:
        assert _sha(m.data) == digest, (
            f"the mutation engine changed: seed {seed} no longer makes the same file"
        )
    refused = net.net_statuses().get("0xC000", 0)
    failures = net.check(m, ("scp-net",))
    assert not failures, "\n".join(map(str, failures))
    assert net.net_statuses().get("0xC000", 0) == refused + 1, "refused as 'cannot understand'"


def _with_bytes(source: str, old: bytes, new: bytes, seed: int) -> Mutant:
    data = seed_bytes(source)
    assert data.count(old) == 1 and len(old) == len(new)
    return Mutant(seed, source, data.replace(old, new), (f"{old!r} -> {new!r}",))


def test_same_instance_under_another_series_is_refused(net):
    """One SOP Instance UID, two series: the second copy is refused and the first keeps its row."""
    import pydicom
    from pydicom.data import get_testdata_file

    source = "OBXXXX1A.dcm"
    series = str(pydicom.dcmread(get_testdata_file(source), stop_before_pixels=True).SeriesInstanceUID)
    other = series[:-1] + ("1" if series[-1] != "1" else "2")
    target = net.net_target()
    first = Mutant(-1, source, seed_bytes(source), ("pristine",))
    assert not net.check(first, ("scp-net",))
    before = dict(target.statuses)
    second = _with_bytes(source, series.encode(), other.encode(), -2)
    failures = net.check(second, ("scp-net",))
    assert not failures, "\n".join(map(str, failures))
    assert target.statuses.get("0xC000", 0) == before.get("0xC000", 0) + 1, target.statuses


def test_refused_copy_of_a_stored_instance_leaves_it_unchanged(net):
    """Seed 5958 (a StudyTime with an unknown VR) once overwrote the stored copy of the same instance
    and only then failed to index it (0xC211): every value the index needs is now read first."""
    m = mutant(5958, SEEDS)
    assert _sha(m.data) == "4cad1d799035ed46", "the mutation engine changed: seed 5958 differs"
    pristine = Mutant(-3, m.source, seed_bytes(m.source), ("pristine",))
    assert not net.check(pristine, ("scp-net",))
    target = net.net_target()
    stored = target.snapshot()
    refused = net.net_statuses().get("0xC000", 0)
    failures = net.check(m, ("scp-net",))  # includes: not stored, so no archive file changed
    assert not failures, "\n".join(map(str, failures))
    assert net.net_statuses().get("0xC000", 0) == refused + 1
    assert target.snapshot() == stored


def test_seeded_net_run(net):
    """40 fresh mutants of the small seed files over the network."""
    start = time.monotonic()
    failures = []
    for seed in range(300_000, 300_040):
        failures += net.check(mutant(seed, QUICK_SEEDS), ("scp-net",))
    assert not failures, "\n".join(map(str, failures))
    print(f"40 mutants over the network in {time.monotonic() - start:.1f} s")
    stored_and_refused = net.net_statuses()
    assert stored_and_refused.get("0x0000") and stored_and_refused.get("0xC000"), stored_and_refused


# seed, files, sha256 prefix of the mutant, what ``fetalviewer send`` once did with it
SEND_REGRESSIONS = (
    (310001, "quick", "75e0ab93cc384691", "no StudyInstanceUID left after a length lie: crash handler"),
    (310011, "quick", "0e08f496e73b229e", "the same with BitsAllocated 64: crash handler"),
    (320217, "all", "5b5aa5fbad90f8bc", "transfer syntax ...1.2.4 (none): association failed, file not named"),
    (320335, "all", "7ff4242d87c671e5", "transfer syntax 1.2.3: association failed, file not named"),
    (320358, "all", "c41d54da49bc29d1", "bit flips in the meta group: association failed, file not named"),
    (331085, "all", "803abb244c03986c", "an unknown SOP class: no context accepted, association failed unnamed"),
)


@pytest.mark.parametrize(("seed", "files", "digest", "what"), SEND_REGRESSIONS, ids=[str(r[0]) for r in SEND_REGRESSIONS])
def test_send_regression(net, seed, files, digest, what):
    m = mutant(seed, QUICK_SEEDS if files == "quick" else SEEDS)
    assert _sha(m.data) == digest, f"the mutation engine changed: seed {seed} no longer makes the same file"
    failures = net.check(m, ("send",))
    assert not failures, "\n".join(map(str, failures))


def test_seeded_send_run(net):
    """20 fresh mutants through ``fetalviewer send`` to the same SCP: exit 0 or 2 naming the file, never the
    crash handler; the SCP stays up and consistent."""
    failures = []
    for seed in range(310_000, 310_020):
        failures += net.check(mutant(seed, QUICK_SEEDS), ("send",))
    assert not failures, "\n".join(map(str, failures))
