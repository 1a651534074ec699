"""Reference table of the real DICOM fixtures (values read from their headers) and test helpers.

The table states what each file's header says (pydicom style); pixel values are checked against an
independent decoder (dcmtk) in test_dicom_decode.py, not listed here.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Ref:
    name: str
    frames: int
    rows: int
    columns: int
    photometric: str
    transfer_syntax_uid: str
    timing_source: str
    frame_time_ms: float | None  # None: the 30 fps default
    n_regions: int
    #: dcmtk tool that decodes it, or None with the reason in DCMTK_SKIP
    dcmtk: str | None = "dcmj2pnm"


EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
RLE = "1.2.840.10008.1.2.5"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
J2K = "1.2.840.10008.1.2.4.91"

REFERENCES: tuple[Ref, ...] = (
    Ref("OBXXXX1A.dcm", 1, 600, 800, "PALETTE COLOR", EXPLICIT_LE, "default", None, 2),
    Ref("OBXXXX1A_2frame.dcm", 2, 600, 800, "PALETTE COLOR", EXPLICIT_LE, "default", None, 2),
    Ref("OBXXXX1A_rle.dcm", 1, 600, 800, "PALETTE COLOR", RLE, "default", None, 2),
    Ref("OBXXXX1A_rle_2frame.dcm", 2, 600, 800, "PALETTE COLOR", RLE, "default", None, 2),
    Ref("OBXXXX1A_expb.dcm", 1, 600, 800, "PALETTE COLOR", EXPLICIT_BE, "default", None, 2),
    Ref("OBXXXX1A_expb_2frame.dcm", 2, 600, 800, "PALETTE COLOR", EXPLICIT_BE, "default", None, 2),
    Ref("color3d_jpeg_baseline.dcm", 120, 480, 640, "YBR_FULL_422", JPEG_BASELINE, "FrameTime", 33.333, 1),
    Ref("gdcm-US-ALOKA-16.dcm", 1, 480, 640, "PALETTE COLOR", IMPLICIT_LE, "default", None, 3, None),
    Ref("gdcm-US-ALOKA-16_big.dcm", 1, 480, 640, "PALETTE COLOR", EXPLICIT_BE, "default", None, 3, None),
    Ref("US1_UNCR.dcm", 1, 480, 640, "RGB", EXPLICIT_LE, "default", None, 0),
    Ref("US1_J2KR.dcm", 1, 480, 640, "YBR_RCT", J2K_LOSSLESS, "default", None, 0, None),
    Ref("US1_J2KI.dcm", 1, 480, 640, "YBR_ICT", J2K, "default", None, 0, None),
    Ref("JPGLosslessP14SV1_1s_1f_8b.dcm", 1, 768, 1024, "MONOCHROME2", JPEG_LOSSLESS_SV1, "default", None, 1),
    Ref("examples_ybr_color.dcm", 30, 240, 320, "YBR_FULL_422", JPEG_BASELINE, "FrameTime", 33.333, 1),
    Ref("examples_rgb_color.dcm", 1, 240, 320, "RGB", EXPLICIT_LE, "default", None, 0),
    Ref("examples_palette.dcm", 1, 350, 800, "PALETTE COLOR", EXPLICIT_LE, "default", None, 2),
)

#: Why a file is not compared with dcmtk (checked another independent way instead).
DCMTK_SKIP = {
    "gdcm-US-ALOKA-16.dcm": "dcmtk 3.6.7: 'segmented palettes not yet supported'; checked against a "
    "segmented-LUT expansion written in the test from PS3.3 C.7.9.2",
    "gdcm-US-ALOKA-16_big.dcm": "as gdcm-US-ALOKA-16.dcm; also must equal the little endian file",
    "US1_J2KR.dcm": "Debian dcmtk has no JPEG 2000 codec; lossless, so it must equal US1_UNCR.dcm, "
    "which dcmtk decodes",
    "US1_J2KI.dcm": "Debian dcmtk has no JPEG 2000 codec; lossy, compared with US1_UNCR.dcm",
}


def data_file(name: str) -> str:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    if path is None:
        raise FileNotFoundError(f"pydicom-data file {name} is not installed")
    return str(path)


def dcmtk_frame(tool: str, path: str, index: int, tmp_dir: Path) -> np.ndarray:
    """Frame ``index`` (0-based) decoded by a dcmtk tool to PNG, as uint8 (rows, cols[, 3])."""
    from PIL import Image

    exe = shutil.which(tool)
    if exe is None:
        raise FileNotFoundError(f"{tool} (Debian dcmtk) is not installed")
    out = tmp_dir / f"dcmtk_{Path(path).stem}_{index}.png"
    # +F is 1-based in dcmtk; +Wn: no VOI window, as our 8-bit display path.
    subprocess.run(
        [exe, "--write-png", "+F", str(index + 1), path, str(out)], check=True, capture_output=True
    )
    return np.asarray(Image.open(out))


def write_dataset(path: Path, ds, transfer_syntax_uid: str = EXPLICIT_LE) -> Path:
    """Save a pydicom dataset as a DICOM file (with preamble and file meta)."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import UID

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax_uid)
    ds.file_meta = meta
    ds.save_as(
        path,
        enforce_file_format=True,
        little_endian=transfer_syntax_uid != EXPLICIT_BE,
        implicit_vr=transfer_syntax_uid == IMPLICIT_LE,
    )
    return path


def synthetic_cine(
    n_frames: int = 8,
    rows: int = 32,
    columns: int = 48,
    rgb: bool = False,
    photometric: str | None = None,
    bits: int = 8,
    seed: int = 0,
):
    """A small US Multi-frame dataset with deterministic random pixels (frame i differs per i)."""
    from pydicom.dataset import Dataset
    from pydicom.uid import generate_uid

    rng = np.random.default_rng(seed)
    samples = 3 if rgb else 1
    dtype = np.uint8 if bits == 8 else np.uint16
    high = 256 if bits == 8 else (1 << bits)
    shape = (n_frames, rows, columns, samples) if rgb else (n_frames, rows, columns)
    pixels = rng.integers(0, high, size=shape, dtype=np.int64).astype(dtype)
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[f"synthetic-{seed}-{n_frames}-{rows}-{columns}-{rgb}"])
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["synthetic-study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["synthetic-series"])
    ds.Modality = "US"
    ds.PatientName = "SYNTHETIC^TEST"
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric or ("RGB" if rgb else "MONOCHROME2")
    if rgb:
        ds.PlanarConfiguration = 0
    ds.Rows = rows
    ds.Columns = columns
    ds.NumberOfFrames = n_frames
    ds.BitsAllocated = 8 if bits == 8 else 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    return ds, pixels


def decode_frames_uint8(ds, path="") -> tuple[np.ndarray, str]:
    """All frames as uint8, (n, rows, cols) gray or (n, rows, cols, 3) RGB, and the photometric name,
    decoded whole by pydicom alone: an independent reference for small, trusted test files."""
    from pydicom.pixels import apply_color_lut

    try:
        arr = ds.pixel_array
    except Exception as exc:  # decoder missing, truncated data, ...
        raise AssertionError(f"{path}: pixel data cannot be decoded ({exc})") from exc
    photometric = str(ds.PhotometricInterpretation).strip()
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.SamplesPerPixel)
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)
        if rgb.dtype != np.uint8:
            rgb = (rgb >> 8) if int(rgb.max(initial=0)) > 255 else rgb
        arr, photometric = rgb.astype(np.uint8), "RGB"
    elif samples == 3:
        photometric = "RGB"  # pydicom converts YBR_* to RGB when decoding
    else:
        bits = int(ds.get("BitsStored", 8))
        if arr.dtype != np.uint8:
            arr = np.clip(arr.astype(np.float64) / max(1, (1 << bits) - 1) * 255.0, 0, 255).astype(np.uint8)
        if photometric == "MONOCHROME1":
            arr = 255 - arr
        photometric = "MONOCHROME2"
    per_frame_ndim = 3 if photometric == "RGB" else 2
    if n_frames == 1 and arr.ndim == per_frame_ndim:
        arr = arr[np.newaxis]
    return np.ascontiguousarray(arr, dtype=np.uint8), photometric
