"""Header lies through every command: NumberOfFrames above and below the data, a Rows x Columns lie and
an encapsulated file that lost fragments. Each file is shown with what it really holds (or refused with
exit 2 naming it), and nothing half-written is left."""

from __future__ import annotations

import json

import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames

from fetalviewer.cli import main
from fetalviewer.dicom import open_instance
from fetalviewer.dicom.deid import DeidOptions, find_identifier_leaks, identifier_strings
from fetalviewer.errors import FetalViewerError
from fetalviewer.report.sr import ObGynSR
from tests.dicom_reference import data_file

pytest_plugins = ["tests.model_fixtures"]

SOURCE = "examples_ybr_color.dcm"  # 30 JPEG frames of 240 x 320, one 2D region


def _write(tmp_path, name: str, change) -> tuple:
    ds = pydicom.dcmread(data_file(SOURCE))
    change(ds)
    path = tmp_path / name
    ds.save_as(path)
    return path, identifier_strings(pydicom.dcmread(data_file(SOURCE)), DeidOptions())


def _frames_lie(n):
    def change(ds):
        ds.NumberOfFrames = n

    return change


def _size_lie(ds):
    ds.Rows, ds.Columns = 4000, 4000


def _lost_fragments(ds):
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    ds.PixelData = encapsulate(frames[:7])  # 23 of 30 frames lost in transfer


# name, change, frames really usable (None: refused), the problem the user is told
CASES = (
    ("more", _frames_lie(1_000_000), 30, "header says 1,000,000 frames, the pixel data holds 30: using 30"),
    ("fewer", _frames_lie(10), 10, "header says 10 frame(s), the pixel data holds 30: using the 10 declared"),
    ("size", _size_lie, None, "the JPEG data is 320 x 240 pixels but the header says 4000 x 4000"),
    ("lost", _lost_fragments, 7, "header says 30 frames, the pixel data holds 7: using 7"),
)


@pytest.mark.parametrize(("name", "change", "frames", "problem"), CASES, ids=[c[0] for c in CASES])
def test_header_lie_through_every_command(
    tmp_path,
    capsys,
    tiny_weights,
    tiny_config,
    one_torch_thread,
    name,
    change,
    frames,
    problem,
):
    path, identifiers = _write(tmp_path, f"{name}.dcm", change)
    expected = 0 if frames else 2

    def run(*argv) -> tuple[int, str]:
        code = main([str(a) for a in argv])
        out = capsys.readouterr()
        text = out.out + out.err
        assert "Traceback" not in text and "internal error" not in text
        if code == 2:
            assert path.name in text
        return code, text

    code, text = run("info", path, "--json")
    assert code == expected and problem in text
    if frames:
        (info,) = json.loads(text[text.index("{") :])["instances"]
        assert info["frames"] == frames and problem in info["integrity_problems"]

    code, text = run("frame", path, "--index", (frames or 1) - 1, "--out", tmp_path / "last.png")
    assert code == expected and (tmp_path / "last.png").exists() == bool(frames)
    if frames:
        code, text = run("frame", path, "--index", frames, "--out", tmp_path / "beyond.png")
        assert code == 2 and "out of range" in text and not (tmp_path / "beyond.png").exists()

    code, text = run("deidentify", path, "--out", tmp_path / "deid")
    assert code == expected
    written = sorted((tmp_path / "deid").glob("*")) if (tmp_path / "deid").exists() else []
    if frames:
        (copy,) = written
        assert find_identifier_leaks(copy, identifiers) == []
        with open_instance(copy) as back:
            assert back.n_frames == frames and back.layout.problems == ()
            assert back.frame(frames - 1).shape == (240, 320, 3)
    else:
        assert written == []

    out = tmp_path / "analysis.json"
    code, text = run("analyze", path, "--weights", tiny_weights, "--config", tiny_config, "--device", "cpu",
                     "--step", 3, "--json", out)  # fmt: skip
    assert code == expected
    if frames:
        analysed = {r["frame_index"] for r in json.loads(out.read_text())["frames"]}
        assert analysed and max(analysed) < frames

    formats = "sr,sc,json,mp4" if name == "more" else "sr,sc,json"
    code, text = run("report", path, "--out", tmp_path / "report", "--formats", formats)
    assert code == expected
    report = sorted(p.name for p in (tmp_path / "report").glob("*")) if (tmp_path / "report").exists() else []
    if frames:
        assert any(n.endswith(".json") for n in report)
        if name == "more":
            from fetalviewer.report.video import read_video_info

            (mp4,) = (tmp_path / "report").glob("*.mp4")
            assert read_video_info(mp4).n_frames >= frames  # every real frame, none of the claimed million
    else:
        assert report == []

    code, text = run("batch", path, "--out", tmp_path / "batch", "--weights", tiny_weights, "--config", tiny_config,
                     "--device", "cpu", "--step", 3)  # fmt: skip
    assert code == 0  # a batch lists what it could not use instead of stopping
    problems = (tmp_path / "batch" / "problems.csv").read_text()
    assert path.name in problems and problem in problems
    parts = sorted((tmp_path / "batch").glob("frames-*.parquet"))
    if frames:
        import pyarrow.parquet as pq

        analysed = pq.read_table(parts).column("frame_index").to_pylist()
        assert sorted(analysed) == list(range(0, frames, 3))  # the real frames only, each once
    else:
        assert parts == []

    from fetalviewer.net.validate import validate_received

    received = pydicom.dcmread(path)  # what the Storage SCP checks before it stores an instance
    if frames:
        validate_received(received, "from CART")  # stored as sent; the viewer shows what it really holds
    else:
        with pytest.raises(FetalViewerError, match="from CART: .*4000 x 4000"):
            validate_received(received, "from CART")

    with pytest.raises(FetalViewerError) as info:  # an image is not a structured report: refused, named
        ObGynSR.from_file(path)
    assert path.name in str(info.value)
