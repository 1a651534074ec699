"""Header claims against the pixel data present: check_dataset (in memory) and open_instance (files)."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames

from fetalviewer.dicom import open_instance
from fetalviewer.dicom.integrity import (
    MAX_FRAME_BYTES,
    check_dataset,
    j2k_frame_size,
    jpeg_frame_size,
)
from fetalviewer.errors import DicomReadError, FrameDecodeError
from tests.dicom_reference import data_file

CINE = "color3d_jpeg_baseline.dcm"  # 120 JPEG frames, 480 x 640, one fragment per frame
NATIVE_2 = "OBXXXX1A_2frame.dcm"  # 2 native palette frames, 600 x 800
RLE_2 = "OBXXXX1A_rle_2frame.dcm"


def _cine_frames() -> tuple[pydicom.Dataset, list[bytes]]:
    ds = pydicom.dcmread(data_file(CINE))
    return ds, list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))


def test_frame_count_lie_more_than_the_data():
    ds = pydicom.dcmread(data_file(CINE))
    ds.NumberOfFrames = 1_000_000
    layout = check_dataset(ds, "lie.dcm")
    assert layout.frames == 120 and layout.declared_frames == 1_000_000
    assert "header says 1,000,000 frames, the pixel data holds 120: using 120" in layout.problems


def test_frame_count_lie_fewer_than_the_data():
    ds = pydicom.dcmread(data_file(CINE))
    ds.NumberOfFrames = 10
    layout = check_dataset(ds, "few.dcm")
    assert layout.frames == 10 and len(layout.frame_fragments) == 10
    assert any("header says 10 frame(s), the pixel data holds 120" in p for p in layout.problems)


def test_native_frame_count_and_size_lies():
    ds = pydicom.dcmread(data_file(NATIVE_2))
    ds.NumberOfFrames = 5000
    layout = check_dataset(ds, "native.dcm")
    assert (layout.frames, layout.encapsulated) == (2, False)
    ds.NumberOfFrames = 2
    ds.Rows, ds.Columns = 4000, 4000  # one claimed frame is larger than all the data
    with pytest.raises(DicomReadError, match=r"native.dcm: Pixel Data holds 960,000 bytes; one frame"):
        check_dataset(ds, "native.dcm")
    ds.Rows, ds.Columns = 65535, 65535
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    with pytest.raises(DicomReadError, match="per-frame ceiling"):
        check_dataset(ds, "native.dcm")
    assert 65535 * 65535 * 2 > MAX_FRAME_BYTES


def test_missing_fragments_and_bad_offset_table():
    ds, frames = _cine_frames()
    ds.PixelData = encapsulate(frames[:7])  # 113 frames lost in transfer
    ds["PixelData"].is_undefined_length = True
    layout = check_dataset(ds, "cut.dcm")
    assert layout.frames == 7
    ds.PixelData = encapsulate(frames[:3], has_bot=True)
    ds.NumberOfFrames = 3
    assert check_dataset(ds, "bot.dcm").problems == ()
    value = bytearray(ds.PixelData)
    value[12:16] = (999_999).to_bytes(4, "little")  # second offset points nowhere
    ds.PixelData = bytes(value)
    layout = check_dataset(ds, "bot.dcm")
    assert layout.frames == 3 and any("basic offset table" in p for p in layout.problems)


def test_garbage_and_empty_values_are_refused_with_the_source():
    ds = pydicom.dcmread(data_file(NATIVE_2))
    ds.SamplesPerPixel = 7
    with pytest.raises(DicomReadError, match="x.dcm: SamplesPerPixel is 7"):
        check_dataset(ds, "x.dcm")
    ds = pydicom.dcmread(data_file(NATIVE_2))
    ds.BitsAllocated = 12
    with pytest.raises(DicomReadError, match="BitsAllocated is 12"):
        check_dataset(ds, "x.dcm")
    ds = pydicom.dcmread(data_file(NATIVE_2))
    ds.NumberOfFrames = 0
    layout = check_dataset(ds, "x.dcm")
    assert layout.frames == 2 and any("not a frame count" in p for p in layout.problems)
    ds = pydicom.dcmread(data_file(NATIVE_2))
    del ds.PixelData
    assert check_dataset(ds, "sr.dcm") is None  # nothing to check (a report, a PDF)


def test_codestream_sizes():
    _, frames = _cine_frames()
    assert jpeg_frame_size(frames[0]) == (480, 640)
    assert jpeg_frame_size(b"\xff\xd8\xff\xda\x00\x02") is None
    j2k = pydicom.dcmread(data_file("US1_J2KR.dcm"))
    assert j2k_frame_size(next(generate_frames(j2k.PixelData, number_of_frames=1))) == (480, 640)


def test_open_file_with_rows_columns_lie_is_refused_before_decoding(tmp_path):
    ds = pydicom.dcmread(data_file(CINE))
    ds.Rows, ds.Columns = 4000, 4000
    path = tmp_path / "big.dcm"
    ds.save_as(path)
    with pytest.raises(DicomReadError, match=r"big.dcm: frame 1: the JPEG data is 640 x 480 pixels"):
        open_instance(path)


def test_open_file_with_one_frame_of_another_size_refuses_only_that_frame(tmp_path):
    ds, frames = _cine_frames()
    small = pydicom.dcmread(data_file("examples_ybr_color.dcm"))  # 240 x 320 JPEG frames
    frames[3] = next(generate_frames(small.PixelData, number_of_frames=int(small.NumberOfFrames)))
    ds.PixelData = encapsulate(frames)
    path = tmp_path / "mixed.dcm"
    ds.save_as(path)
    with open_instance(path) as loop:
        assert loop.n_frames == 120
        with pytest.raises(FrameDecodeError, match="frame 4: the JPEG data is 320 x 240"):
            loop.frame(3)
        assert loop.frame(4).shape == (480, 640, 3)


def test_rle_frame_too_short_for_its_size(tmp_path):
    ds = pydicom.dcmread(data_file(RLE_2))
    frames = list(generate_frames(ds.PixelData, number_of_frames=2))
    frames[1] = frames[1][:100]
    ds.PixelData = encapsulate(frames)
    path = tmp_path / "rle.dcm"
    ds.save_as(path)
    with open_instance(path) as loop:
        assert loop.frame(0).shape[:2] == (600, 800)
        with pytest.raises(FrameDecodeError, match="rle.dcm: frame 2: 100 bytes of RLE data cannot hold"):
            loop.frame(1)


def test_info_and_study_problems_show_the_real_frame_count(tmp_path, capsys):
    from fetalviewer.cli import main
    from fetalviewer.dicom import load_study

    ds = pydicom.dcmread(data_file(CINE))
    ds.NumberOfFrames = 1_000_000
    path = tmp_path / "lie.dcm"
    ds.save_as(path)
    study = load_study([path])
    assert [i.n_frames for i in study.instances] == [120]
    assert [(p.kind, p.message) for p in study.problems] == [
        ("integrity", f"{path}: header says 1,000,000 frames, the pixel data holds 120: using 120")
    ]
    study.close()
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Frames:            120 " in out
    assert "header says 1,000,000 frames, the pixel data holds 120: using 120" in out
    assert "play frames 0..119" in out or "..119" in out
