"""Every command reads a cine frame by frame: the memory it holds does not grow with the number of frames.

Each command runs in this process under ``tracemalloc`` (which also counts numpy's pixel buffers), first on
a 4-frame cine untraced (imports, the model's text encoding and the like), then traced on a 64-frame and a
144-frame 480x640 RGB cine. The 80 frames more are 70 MB decoded; the traced peak may grow by a fifth of
that at most. A command that kept the frames it had read (a frame cache, a list of frames, the whole pixel
array) would grow by all of it. Peak resident memory of the whole process on a 2,000-frame cine is measured
by ``bench/bench_memory.py``.
"""

from __future__ import annotations

import tracemalloc

import pytest

from fetalviewer.cli import main
from tests.helpers import write_jpeg_cine
from tests.model_fixtures import TINY_CONFIG, save_official, tiny_state_dict

SHORT, LONG = 64, 144
EXTRA_DECODED_MB = (LONG - SHORT) * 480 * 640 * 3 / 2**20


@pytest.fixture(scope="module")
def cines(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long_cines")
    weights = save_official(tiny_state_dict(seed=0), folder / "tiny.pt")
    cines = {n: write_jpeg_cine(folder / f"cine{n}.dcm", n) for n in (4, SHORT, LONG)}
    return cines, weights


def _model(weights):
    return ["--weights", str(weights), "--config", str(TINY_CONFIG), "--device", "cpu"]


COMMANDS = {
    "info": lambda cine, out, w: ["info", str(cine)],
    "frame": lambda cine, out, w: ["frame", str(cine), "--index", "3", "--out", str(out / "frame.png")],
    "deidentify": lambda cine, out, w: ["deidentify", str(cine), "--out", str(out / "deid")],
    "analyze": lambda cine, out, w: ["analyze", str(cine), *_model(w), "--json", str(out / "a.json")],
    "report": lambda cine, out, w: ["report", str(cine), "--out", str(out / "report"), *_model(w),
                                    "--formats", "pdf,sr,sc,mp4,json"],
    "batch": lambda cine, out, w: ["batch", str(cine), "--out", str(out / "batch"), *_model(w)],
}  # fmt: skip


def _traced_peak_mb(argv) -> tuple[int, float]:
    tracemalloc.start()
    try:
        code = main(argv)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return code, peak / 2**20


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_memory_does_not_grow_with_the_cine(command, cines, tmp_path, capsys):
    paths, weights = cines
    make = COMMANDS[command]
    peaks_mb = {}
    for n in (4, SHORT, LONG):
        out = tmp_path / f"run{n}"
        out.mkdir()
        if n == 4:  # warm-up: imports and caches are not what this test is about
            code = main(make(paths[n], out, weights))
        else:
            code, peaks_mb[n] = _traced_peak_mb(make(paths[n], out, weights))
        assert code == 0, capsys.readouterr()
    growth_mb = peaks_mb[LONG] - peaks_mb[SHORT]
    print(f"{command}: traced peak {peaks_mb[SHORT]:.1f} MB at {SHORT} frames, {peaks_mb[LONG]:.1f} MB at {LONG}")
    assert growth_mb < EXTRA_DECODED_MB / 5, (
        f"{command}: {growth_mb:.0f} MB more for {LONG - SHORT} more frames ({EXTRA_DECODED_MB:.0f} MB decoded)"
    )
