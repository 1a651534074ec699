"""Every listed real ultrasound file opens and decodes like an independent decoder (dcmtk)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from fetalviewer.dicom import open_instance
from tests.dicom_reference import (
    DCMTK_SKIP,
    REFERENCES,
    Ref,
    data_file,
    dcmtk_frame,
    synthetic_cine,
    write_dataset,
)

needs_dcmtk = pytest.mark.skipif(shutil.which("dcmj2pnm") is None, reason="Debian dcmtk is not installed")


@pytest.mark.parametrize("ref", REFERENCES, ids=lambda r: r.name)
def test_header_matches_reference(ref: Ref):
    loop = open_instance(data_file(ref.name))
    assert loop.n_frames == ref.frames
    assert (loop.rows, loop.columns) == (ref.rows, ref.columns)
    assert loop.photometric == ref.photometric
    assert loop.transfer_syntax_uid == ref.transfer_syntax_uid
    assert loop.timing.source == ref.timing_source
    expected_ms = ref.frame_time_ms if ref.frame_time_ms is not None else 1000.0 / 30.0
    assert loop.timing.frame_time_ms == pytest.approx(expected_ms)
    assert len(loop.regions) == ref.n_regions
    assert loop.modality == "US"
    assert loop.sop_instance_uid and loop.study_instance_uid
    for i in {0, ref.frames - 1}:
        frame = loop.frame(i)
        assert frame.dtype == np.uint8 and frame.flags.c_contiguous
        assert frame.shape[:2] == (ref.rows, ref.columns)
        assert frame.ndim == (3 if loop.is_color else 2)
        assert frame.std() > 1.0  # a real image, not a blank


@needs_dcmtk
@pytest.mark.parametrize("ref", [r for r in REFERENCES if r.dcmtk], ids=lambda r: r.name)
def test_frames_agree_with_dcmtk(ref: Ref, tmp_path):
    path = data_file(ref.name)
    loop = open_instance(path)
    for index in sorted({0, ref.frames // 2, ref.frames - 1}):
        expected = dcmtk_frame(ref.dcmtk, path, index, tmp_path)
        actual = loop.frame(index)
        assert actual.shape == expected.shape
        diff = np.abs(actual.astype(np.int16) - expected.astype(np.int16))
        per_channel = diff.reshape(-1, diff.shape[2]).mean(axis=0) if diff.ndim == 3 else [diff.mean()]
        assert max(per_channel) <= 2.0, f"{ref.name} frame {index}: mean |diff| per channel {per_channel}"


def test_every_file_not_compared_with_dcmtk_has_a_written_reason():
    skipped = {r.name for r in REFERENCES if r.dcmtk is None}
    assert skipped == set(DCMTK_SKIP)


@needs_dcmtk
def test_frames_differ_between_cine_frames(tmp_path):
    """Guards against decoding frame 0 for every index: frames 0 and 60 differ and each matches dcmtk."""
    path = data_file("color3d_jpeg_baseline.dcm")
    loop = open_instance(path)
    a, b = loop.frame(0), loop.frame(60)
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 1.0
    assert np.abs(b.astype(int) - dcmtk_frame("dcmj2pnm", path, 60, tmp_path).astype(int)).mean() < 2.0


def test_jpeg2000_lossless_equals_uncompressed_and_lossy_is_close():
    reference = open_instance(data_file("US1_UNCR.dcm")).frame(0).astype(int)
    lossless = open_instance(data_file("US1_J2KR.dcm")).frame(0).astype(int)
    lossy = open_instance(data_file("US1_J2KI.dcm")).frame(0).astype(int)
    assert np.array_equal(lossless, reference)
    per_channel = np.abs(lossy - reference).reshape(-1, 3).mean(axis=0)
    assert per_channel.max() <= 2.0


def test_big_endian_files_equal_little_endian_ones():
    for little, big in (
        ("OBXXXX1A_2frame.dcm", "OBXXXX1A_expb_2frame.dcm"),
        ("gdcm-US-ALOKA-16.dcm", "gdcm-US-ALOKA-16_big.dcm"),
    ):
        a, b = open_instance(data_file(little)), open_instance(data_file(big))
        assert b.transfer_syntax_uid == "1.2.840.10008.1.2.2"
        for i in range(a.n_frames):
            assert np.array_equal(a.frame(i), b.frame(i)), (little, big, i)


def _expand_segmented(words: np.ndarray) -> np.ndarray:
    """Segmented palette LUT expansion written from PS3.3 C.7.9.2 (discrete and linear segments)."""
    out: list[float] = []
    i = 0
    while i < len(words):
        opcode, length = int(words[i]), int(words[i + 1])
        if opcode == 0:  # discrete: `length` values follow
            out.extend(float(v) for v in words[i + 2 : i + 2 + length])
            i += 2 + length
        elif opcode == 1:  # linear: `length` steps from the previous value to y1
            y0, y1 = out[-1], float(words[i + 2])
            out.extend(y0 + (y1 - y0) * (k + 1) / length for k in range(length))
            i += 3
        else:
            raise AssertionError(f"segment opcode {opcode} is not used by the test file")
    return np.asarray(out)


def test_segmented_16bit_palette_matches_independent_expansion():
    import pydicom

    path = data_file("gdcm-US-ALOKA-16.dcm")
    ds = pydicom.dcmread(path)
    indices = ds.pixel_array.astype(np.int64)
    first = int(ds.RedPaletteColorLookupTableDescriptor[1])
    channels = []
    for colour in ("Red", "Green", "Blue"):
        words = np.frombuffer(ds[f"Segmented{colour}PaletteColorLookupTableData"].value, dtype="<u2")
        lut = _expand_segmented(words)
        channels.append(lut[np.clip(indices - first, 0, len(lut) - 1)] / 257.0)
    expected = np.stack(channels, axis=-1)
    actual = open_instance(path).frame(0).astype(float)
    assert np.abs(actual - expected).reshape(-1, 3).mean(axis=0).max() <= 1.0


@needs_dcmtk
def test_jpeg_ls_file_agrees_with_dcmtk(tmp_path):
    """No real JPEG-LS ultrasound file exists in pydicom-data: encode a real frame with pyjpegls."""
    import pydicom
    from pydicom.uid import JPEGLSLossless

    ds = pydicom.dcmread(data_file("JPGLosslessP14SV1_1s_1f_8b.dcm"))
    ds.decompress()
    ds.compress(JPEGLSLossless, encoding_plugin="pyjpegls")
    path = tmp_path / "jpegls.dcm"
    ds.save_as(path, enforce_file_format=True)
    loop = open_instance(path)
    assert loop.transfer_syntax_uid == str(JPEGLSLossless)
    expected = dcmtk_frame("dcml2pnm", str(path), 0, tmp_path)
    assert np.array_equal(loop.frame(0), expected)


@pytest.mark.parametrize("planar", [0, 1])
def test_rgb_planar_configurations(tmp_path, planar):
    ds, pixels = synthetic_cine(n_frames=3, rgb=True, seed=planar)
    ds.PlanarConfiguration = planar
    if planar == 1:  # colour-by-plane: RRR..GGG..BBB.. per frame
        ds.PixelData = np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)).tobytes()
    loop = open_instance(write_dataset(tmp_path / f"rgb{planar}.dcm", ds))
    for i in range(3):
        assert np.array_equal(loop.frame(i), pixels[i])


def test_monochrome1_is_inverted_and_16bit_uses_window(tmp_path):
    ds, pixels = synthetic_cine(n_frames=2, photometric="MONOCHROME1", seed=3)
    loop = open_instance(write_dataset(tmp_path / "m1.dcm", ds))
    assert np.array_equal(loop.frame(1), 255 - pixels[1])

    ds16, pixels16 = synthetic_cine(n_frames=2, bits=12, seed=4)
    ds16.WindowCenter = 2048
    ds16.WindowWidth = 1024
    loop16 = open_instance(write_dataset(tmp_path / "m16.dcm", ds16))
    frame = loop16.frame(0)
    raw = pixels16[0].astype(float)
    assert frame.dtype == np.uint8
    assert np.all(frame[raw <= 1536] == 0) and np.all(frame[raw >= 2560] == 255)
    inside = (raw > 1600) & (raw < 2500)
    # PS3.3 C.11.2.1.2.1 linear window: ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
    expected = ((raw[inside] - 2047.5) / 1023 + 0.5) * 255
    assert np.abs(frame[inside] - expected).max() <= 1.0

    del ds16.WindowCenter, ds16.WindowWidth  # no window: the full 12-bit stored range
    loop_full = open_instance(write_dataset(tmp_path / "m16full.dcm", ds16))
    assert np.abs(loop_full.frame(1) - pixels16[1] / 4095 * 255).max() <= 0.5


def test_uncompressed_ybr_full_is_converted_to_rgb(tmp_path):
    from pydicom.pixels import convert_color_space

    ds, pixels = synthetic_cine(n_frames=2, rgb=True, seed=7)
    ybr = convert_color_space(pixels, "RGB", "YBR_FULL")
    ds.PhotometricInterpretation = "YBR_FULL"
    ds.PixelData = ybr.tobytes()
    loop = open_instance(write_dataset(tmp_path / "ybr.dcm", ds))
    assert np.abs(loop.frame(1).astype(int) - pixels[1].astype(int)).mean() < 1.0


def test_pixel_data_written_implicit_in_an_explicit_file():
    """pydicom's SC_rgb_jpeg.dcm declares Explicit VR but writes the elements implicit (dcmtk
    refuses it); our file-offset path must agree with pydicom decoding the whole dataset."""
    import pydicom

    path = data_file("SC_rgb_jpeg.dcm")
    expected = pydicom.dcmread(path).pixel_array
    actual = open_instance(path).frame(0)
    assert np.abs(actual.astype(int) - expected.astype(int)).mean() <= 1.0


def test_32bit_grayscale_uses_its_own_range():
    import pydicom

    path = data_file("rtdose.dcm")
    raw = pydicom.dcmread(path).pixel_array[0].astype(float)
    frame = open_instance(path).frame(0)
    expected = (raw - raw.min()) / (raw.max() - raw.min()) * 255
    assert np.abs(frame - expected).max() <= 0.5
