"""``fetalviewer batch`` on a small archive of real ultrasound files (pydicom's test data) plus a truncated
file, a non-DICOM file and a second copy of an instance, with a tiny random-weight model: the local engine,
a local Ray runtime (with a worker that dies) and a real Ray head on loopback give the same tables; a run
killed with SIGKILL resumes to every frame exactly once; the values equal ``fetalviewer analyze``."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from fetalviewer.cli import main
from fetalviewer.paths import resources_dir

pytest_plugins = ["tests.model_fixtures"]
pytest.importorskip("pyarrow")
REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = resources_dir() / "model_configs" / "FetalCLIP_tiny_test.json"  # as tests.model_fixtures
STEP = 5
#: Real US files with distinct SOP Instance UIDs (pydicom test data), where they go in the archive.
ARCHIVE_FILES = {
    "US1_UNCR.dcm": "US1_UNCR.dcm",
    "US1_J2KR.dcm": "US1_J2KR.dcm",
    "US1_J2KI.dcm": "US1_J2KI.dcm",
    "gdcm-US-ALOKA-16.dcm": "gdcm-US-ALOKA-16.dcm",
    "examples_ybr_color.dcm": "cine/examples_ybr_color.dcm",
    "OBXXXX1A_2frame.dcm": "cine/OBXXXX1A_2frame.dcm",
}
DUPLICATE = ("US1_UNCI.dcm", "US1_UNCI.dcm")  # same SOP Instance UID as US1_J2KI.dcm (sorted after it)
TRUNCATED = ("JPGLosslessP14SV1_1s_1f_8b.dcm", "truncated.dcm")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> tuple[Path, int]:
    """(folder, frames the batch must analyse at STEP)."""
    import pydicom
    from pydicom.data import get_testdata_file

    root = tmp_path_factory.mktemp("archive")
    expected = 0
    for name, where in ARCHIVE_FILES.items():
        target = root / where
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(get_testdata_file(name), target)
        n = int(pydicom.dcmread(target, stop_before_pixels=True).get("NumberOfFrames", 1) or 1)
        expected += math.ceil(n / STEP)
    shutil.copy(get_testdata_file(DUPLICATE[0]), root / DUPLICATE[1])
    data = Path(get_testdata_file(TRUNCATED[0])).read_bytes()
    (root / TRUNCATED[1]).write_bytes(data[: len(data) * 2 // 3])
    (root / "notes.txt").write_text("exam list, not an image\n")
    return root, expected


def _batch_args(archive_dir: Path, out: Path, weights: Path, *extra: str) -> list[str]:
    return [
        "batch",
        str(archive_dir),
        "--out",
        str(out),
        "--weights",
        str(weights),
        "--config",
        str(TINY_CONFIG),
        "--step",
        str(STEP),
        *extra,
    ]


@pytest.fixture(scope="session")
def local_out(archive, tiny_weights, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FETALVIEWER_HOME", str(tmp_path_factory.mktemp("home")))
        assert main(_batch_args(archive[0], out, tiny_weights)) == 0
    return out


def _frames(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    parts = sorted(out.glob("frames-*.parquet"))
    rows = [r for p in parts for r in pq.read_table(p).to_pylist()]
    return sorted(rows, key=lambda r: (r["sop_instance_uid"], r["frame_index"]))


def _assert_same_frames(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        assert ra.keys() == rb.keys()
        for key, va in ra.items():
            if isinstance(va, float):
                assert va == pytest.approx(rb[key], abs=1e-5), key
            else:
                assert va == rb[key], key


def _problems(out: Path) -> dict[str, tuple[str, str]]:
    with open(out / "problems.csv", newline="") as fh:
        return {Path(r["path"]).name: (r["kind"], r["reason"]) for r in csv.DictReader(fh)}


def test_local_tables_rows_and_problems(archive, local_out):
    from fetalviewer.batch.schema import FRAME_COLUMNS

    frames = _frames(local_out)
    assert len(frames) == archive[1]
    keys = {(r["sop_instance_uid"], r["frame_index"]) for r in frames}
    assert len(keys) == len(frames)
    assert list(frames[0]) == list(FRAME_COLUMNS)
    assert {Path(r["source_path"]).name for r in frames} == {Path(w).name for w in ARCHIVE_FILES.values()}
    cine = [r["frame_index"] for r in frames if r["source_path"].endswith("examples_ybr_color.dcm")]
    assert sorted(cine) == list(range(0, 30, STEP))
    for r in frames:
        assert (
            abs(
                sum(
                    r[f"p_{k}"]
                    for k in (
                        "abdomen",
                        "brain",
                        "femur",
                        "heart",
                        "kidney",
                        "lips_nose",
                        "profile_patient",
                        "spine",
                        "cervix",
                    )
                )
                - 1
            )
            < 1e-5
        )
        assert (r["ga_days"] is None) == bool(r["ga_unavailable_reason"])
        assert r["model_name"] == "FetalCLIP" and len(r["weights_sha256"]) == 64

    problems = _problems(local_out)
    assert set(problems) == {"truncated.dcm", "notes.txt", "US1_UNCI.dcm"}
    assert problems["truncated.dcm"][0] == "unreadable" and "truncated" in problems["truncated.dcm"][1]
    assert problems["notes.txt"][0] == "not_dicom"
    assert problems["US1_UNCI.dcm"][0] == "duplicate" and "US1_J2KI.dcm" in problems["US1_UNCI.dcm"][1]

    with open(local_out / "studies.csv", newline="") as fh:
        studies = list(csv.DictReader(fh))
    assert {s["study_instance_uid"] for s in studies} == {r["study_instance_uid"] for r in frames}
    assert sum(int(s["n_frames_analysed"]) for s in studies) == len(frames)
    for s in studies:  # the best brain frame is the study's frame with the highest p_brain
        own = [r for r in frames if r["study_instance_uid"] == s["study_instance_uid"]]
        assert float(s["best_brain_prob_0_1"]) == pytest.approx(max(r["p_brain"] for r in own), abs=1e-9)
        assert int(s["n_required"]) == 8
    page = (local_out / "summary.html").read_text()
    assert "Plane coverage" in page and "<svg" in page
    for name in ARCHIVE_FILES:  # no patient names (or file names) on the page
        import pydicom

        ds = pydicom.dcmread(archive[0] / ARCHIVE_FILES[name], stop_before_pixels=True)
        if str(ds.get("PatientName", "")).strip():
            assert str(ds.PatientName) not in page
        assert name not in page


def test_values_equal_analyze(archive, local_out, tiny_weights, tmp_path):
    cine = archive[0] / ARCHIVE_FILES["examples_ybr_color.dcm"]
    out_json = tmp_path / "analyze.json"
    args = ["analyze", str(cine), "--weights", str(tiny_weights), "--config", str(TINY_CONFIG)]
    assert main([*args, "--step", str(STEP), "--json", str(out_json)]) == 0
    reference = json.loads(out_json.read_text())["frames"]
    rows = {r["frame_index"]: r for r in _frames(local_out) if r["source_path"] == str(cine)}
    assert sorted(rows) == [f["frame_index"] for f in reference]
    for f in reference:
        r = rows[f["frame_index"]]
        for key, p in f["plane_probs"].items():
            assert r[f"p_{key}"] == pytest.approx(p, abs=1e-5)
        assert r["top_plane"] == f["top_plane"]
        assert r["top_prob_0_1"] == pytest.approx(f["top_prob_0_1"], abs=1e-5)
        assert r["ga_days"] == f["ga_days"]
        for key, p in (f["brain_subplane_probs"] or {}).items():
            assert r[f"p_{key}"] == pytest.approx(p, abs=1e-5)


def test_rerun_skips_done_and_refuses_another_step(archive, local_out, tiny_weights, capsys):
    before = sorted(p.name for p in local_out.glob("frames-*.parquet"))
    frames = _frames(local_out)
    assert main(_batch_args(archive[0], local_out, tiny_weights)) == 0
    assert "0 files, 0 frames analysed" in capsys.readouterr().out
    assert sorted(p.name for p in local_out.glob("frames-*.parquet")) == before
    _assert_same_frames(_frames(local_out), frames)
    args = _batch_args(archive[0], local_out, tiny_weights)
    args[args.index("--step") + 1] = "3"
    assert main(args) == 2
    assert "step" in capsys.readouterr().err


def test_kill9_then_resume_gives_every_frame_once(archive, local_out, tiny_weights, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "FETALVIEWER_HOME": str(tmp_path / "home")}
    args = _batch_args(archive[0], out, tiny_weights)
    args[args.index("--step") + 1] = "1"  # every frame: the run lasts long enough to be killed in it
    cmd = [sys.executable, "-m", "fetalviewer", *args, "--part-frames", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("frames-*.parquet")) and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    parts_after_kill = len(list(out.glob("frames-*.parquet")))
    assert parts_after_kill >= 1
    assert main([*args, "--part-frames", "1"]) == 0
    frames = _frames(out)
    import pydicom

    expected = sum(
        int(pydicom.dcmread(archive[0] / w, stop_before_pixels=True).get("NumberOfFrames", 1) or 1)
        for w in ARCHIVE_FILES.values()
    )
    keys = [(r["sop_instance_uid"], r["frame_index"]) for r in frames]
    assert len(keys) == len(set(keys)) == expected
    assert not list(out.glob(".*.tmp"))


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory):
    """A real Ray head on loopback (2 CPUs), stopped by its process group id at the end, even on failure."""
    pytest.importorskip("ray")
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix="fvray", dir="/tmp")  # short: Ray's socket paths have a length limit
    log = open(tmp_path_factory.mktemp("ray") / "head.log", "wb")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "FETALVIEWER_HOME": str(tmp_path_factory.mktemp("ray-home")),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    cmd = [
        shutil.which("ray") or "ray",
        "start",
        "--head",
        "--block",
        "--node-ip-address",
        "127.0.0.1",
        "--port",
        str(port),
        "--num-cpus",
        "2",
        "--include-dashboard",
        "false",
        "--object-store-memory",
        str(100 * 1024 * 1024),
        "--temp-dir",
        temp_dir,
        "--disable-usage-stats",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, "ray start --head exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the Ray head did not open its port within 120 s")
        yield f"127.0.0.1:{port}"
    finally:
        for sig, wait_s in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                continue
        try:  # children the head started, still in its process group
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_ray_local_runtime_with_a_dying_worker_equals_local(
    archive,
    local_out,
    tiny_weights,
    tmp_path,
    monkeypatch,
):
    pytest.importorskip("ray")
    marker = tmp_path / "die-once"
    marker.write_text("the first worker call that sees this file kills its process")
    monkeypatch.setenv("FETALVIEWER_BATCH_FAULT_ONCE", str(marker))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    out = tmp_path / "out"
    assert main(_batch_args(archive[0], out, tiny_weights, "--engine", "ray", "--workers", "1")) == 0
    assert not marker.exists()  # a worker died on a file; Ray restarted it and retried the file
    _assert_same_frames(_frames(out), _frames(local_out))
    assert _problems(out) == _problems(local_out)


def test_ray_cluster_equals_local(archive, local_out, tiny_weights, tmp_path, ray_head):
    out = tmp_path / "out"
    args = _batch_args(archive[0], out, tiny_weights, "--engine", "ray", "--ray-address", ray_head)
    assert main([*args, "--workers", "2"]) == 0
    _assert_same_frames(_frames(out), _frames(local_out))
    assert _problems(out) == _problems(local_out)
    with open(out / "studies.csv") as a, open(local_out / "studies.csv") as b:
        assert a.read() == b.read()


def test_unreachable_ray_address_is_a_clear_error(archive, tiny_weights, tmp_path, capsys):
    port = _free_port()  # nothing listens there
    start = time.monotonic()
    args = _batch_args(archive[0], tmp_path / "out", tiny_weights, "--engine", "ray")
    assert main([*args, "--ray-address", f"127.0.0.1:{port}"]) == 2
    assert time.monotonic() - start < 30
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "unreachable" in err and "Traceback" not in err


def test_engine_ray_without_ray_says_how_to_install(archive, tiny_weights, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    args = _batch_args(archive[0], tmp_path / "out", tiny_weights, "--engine", "ray")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Ray" in err and "pip install" in err and "[cluster]" in err
