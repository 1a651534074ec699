"""Bad input gives a clear error naming the file; a study with bad files still opens the good ones."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from fetalviewer.dicom import load_study, open_instance
from fetalviewer.errors import DecoderMissing, DicomReadError, FrameDecodeError
from tests.dicom_reference import data_file, synthetic_cine, write_dataset


def test_non_dicom_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not an image\n" * 20)
    with pytest.raises(DicomReadError, match="not a DICOM file") as info:
        open_instance(path)
    assert str(path) in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DicomReadError, match="not found"):
        open_instance(tmp_path / "absent.dcm")
    with pytest.raises(DicomReadError, match="folder"):
        open_instance(tmp_path)


@pytest.mark.parametrize("keep_fraction", [0.5, 0.98])
def test_truncated_still_is_refused(tmp_path, keep_fraction):
    data = open(data_file("OBXXXX1A.dcm"), "rb").read()
    path = tmp_path / "cut_OBXXXX1A.dcm"
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    with pytest.raises(DicomReadError, match="needs") as info:
        open_instance(path)
    assert not isinstance(info.value, FrameDecodeError)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("keep_fraction", [0.5, 0.98])
def test_truncated_cine_opens_with_the_frames_present(tmp_path, keep_fraction):
    """A cine cut short keeps its complete frames (the last, incomplete one is dropped) and says so."""
    data = open(data_file("color3d_jpeg_baseline.dcm"), "rb").read()
    path = tmp_path / "cut_cine.dcm"
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    with open_instance(path) as loop:
        assert 1 <= loop.n_frames < 120
        assert loop.declared_frames == 120
        assert any("ends inside fragment" in p for p in loop.layout.problems)
        assert any(f"holds {loop.n_frames}: using {loop.n_frames}" in p for p in loop.layout.problems)
        assert loop.frame(loop.n_frames - 1).shape == (480, 640, 3)


def test_truncated_inside_header(tmp_path):
    data = open(data_file("OBXXXX1A.dcm"), "rb").read()
    path = tmp_path / "header_cut.dcm"
    path.write_bytes(data[:300])
    with pytest.raises(DicomReadError) as info:
        open_instance(path)
    assert str(path) in str(info.value)


def test_no_pixel_data(tmp_path):
    import pydicom

    ds = pydicom.dcmread(data_file("OBXXXX1A.dcm"))
    del ds.PixelData
    path = tmp_path / "nopixels.dcm"
    ds.save_as(path)
    with pytest.raises(DicomReadError, match="no pixel data") as info:
        open_instance(path)
    assert str(path) in str(info.value)


def test_missing_decoder_names_the_package(monkeypatch):
    from fetalviewer.dicom import decoders

    monkeypatch.setattr(decoders, "decoder_available", lambda decoder: False)
    path = data_file("US1_J2KR.dcm")
    with pytest.raises(DecoderMissing, match="pylibjpeg-openjpeg") as info:
        open_instance(path)
    assert path in str(info.value)
    with pytest.raises(DecoderMissing, match="pylibjpeg-libjpeg"):
        open_instance(data_file("color3d_jpeg_baseline.dcm"))


def test_corrupt_frame_in_cine_leaves_other_frames(tmp_path):
    import pydicom
    from pydicom.encaps import encapsulate, generate_frames

    ds = pydicom.dcmread(data_file("color3d_jpeg_baseline.dcm"))
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    frames[5] = frames[5][:40] + b"\xff\xd9"  # JPEG cut short inside its tables
    ds.PixelData = encapsulate(frames)
    path = tmp_path / "corrupt_frame.dcm"
    ds.save_as(path)
    loop = open_instance(path)
    good = open_instance(data_file("color3d_jpeg_baseline.dcm"))
    with pytest.raises(FrameDecodeError, match="frame 6") as info:
        loop.frame(5)
    assert str(path) in str(info.value)
    with pytest.raises(FrameDecodeError):  # remembered, still an error
        loop.frame(5)
    for i in (0, 4, 6, 119):
        assert np.array_equal(loop.frame(i), good.frame(i))
    loop.prefetch(range(3, 9))  # read-ahead skips the bad frame without raising


def test_index_out_of_range():
    loop = open_instance(data_file("OBXXXX1A_2frame.dcm"))
    with pytest.raises(IndexError, match="out of range"):
        loop.frame(2)
    with pytest.raises(TypeError):
        loop.frame("1")


def test_study_with_bad_files_opens_the_rest(tmp_path):
    folder = tmp_path / "usb"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(data_file("OBXXXX1A.dcm"), folder / "sub" / "IM0001")
    shutil.copy(data_file("color3d_jpeg_baseline.dcm"), folder / "IM0002")
    (folder / "readme.txt").write_text("export from the scanner\n")
    data = open(data_file("US1_UNCR.dcm"), "rb").read()
    (folder / "IM0003").write_bytes(data[: len(data) // 2])
    study = load_study([folder, tmp_path / "missing.dcm"])
    names = sorted(loop.path.name for loop in study.instances)
    assert names == ["IM0001", "IM0002"]
    problems = {p.path.split("/")[-1]: p for p in study.problems}
    assert set(problems) == {"IM0003", "missing.dcm"}
    assert study.skipped == [str(folder / "readme.txt")]  # non-DICOM met in a folder: skipped
    assert "truncated" in problems["IM0003"].message
    assert all(p.path in p.message for p in study.problems)
    named = load_study([folder / "readme.txt"])  # named explicitly: a problem
    assert [p.kind for p in named.problems] == ["not_dicom"] and not named.skipped


def test_dicomdir_and_duplicates(tmp_path):
    import pydicom
    from pydicom.fileset import FileSet

    fs = FileSet()
    for name in ("OBXXXX1A.dcm", "examples_ybr_color.dcm"):
        fs.add(pydicom.dcmread(data_file(name)))
    fs.write(tmp_path / "media")
    study = load_study([tmp_path / "media" / "DICOMDIR"])
    assert len(study.instances) == 2 and not study.problems
    assert {loop.n_frames for loop in study.instances} == {1, 30}
    # The folder and its DICOMDIR name the same files: each is opened once.
    again = load_study([tmp_path / "media", tmp_path / "media" / "DICOMDIR"])
    assert len(again.instances) == 2 and not again.problems
    # A copy of an instance under another name is reported as a duplicate.
    shutil.copy(data_file("OBXXXX1A.dcm"), tmp_path / "copy.dcm")
    dup = load_study([tmp_path / "media", tmp_path / "copy.dcm"])
    assert len(dup.instances) == 2
    assert [p.kind for p in dup.problems] == ["duplicate"]


def test_dicomdir_on_lower_case_media_and_missing_records(tmp_path):
    import os

    import pydicom
    from pydicom.fileset import FileSet

    fs = FileSet()
    for name in ("OBXXXX1A.dcm", "examples_ybr_color.dcm"):
        fs.add(pydicom.dcmread(data_file(name)))
    media = tmp_path / "cd"
    fs.write(media)
    # Mounted CDs often show ISO 9660 names in lower case: rename every folder and file but DICOMDIR.
    for root, dirs, files in os.walk(media, topdown=False):
        for name in dirs + [f for f in files if f != "DICOMDIR"]:
            os.rename(os.path.join(root, name), os.path.join(root, name.lower()))
    study = load_study([media / "DICOMDIR"])
    assert len(study.instances) == 2 and not study.problems
    victim = study.instances[0].path
    study.close()
    victim.unlink()
    partial = load_study([media / "DICOMDIR"])
    assert len(partial.instances) == 1
    assert len(partial.problems) == 1 and "not found on the media" in partial.problems[0].message


def test_synthetic_file_round_trip(tmp_path):
    ds, pixels = synthetic_cine(n_frames=4, seed=9)
    loop = open_instance(write_dataset(tmp_path / "s.dcm", ds))
    assert np.array_equal(loop.frame(3), pixels[3])
