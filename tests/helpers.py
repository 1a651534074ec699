"""Small helpers shared by test modules (plain functions; fixtures live in conftest.py and model_fixtures.py)."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path


def dies_with_parent(argv: list[str]) -> list[str]:
    """``argv`` run through setpriv (util-linux) with PR_SET_PDEATHSIG: Linux sends the service SIGTERM when
    the test process dies, even by SIGKILL or a timeout, so no server outlives an interrupted run."""
    return [*(["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []), *argv]


def write_png(path: Path, array) -> Path:
    """Write a uint8 array as a PNG, creating the folder."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def write_jpeg_cine(path: Path, n_frames: int) -> Path:
    """A US multi-frame JPEG baseline file of ``n_frames`` frames, written fragment by fragment."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.encaps import generate_frames

    source = pydicom.dcmread(get_testdata_file("color3d_jpeg_baseline.dcm"))
    frames = list(generate_frames(source.PixelData, number_of_frames=int(source.NumberOfFrames)))
    header = source.copy()
    del header.PixelData
    header.NumberOfFrames = n_frames
    header.save_as(path, enforce_file_format=True)
    with open(path, "ab") as fh:
        fh.write(struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF))
        fh.write(struct.pack("<HHL", 0xFFFE, 0xE000, 0))
        for i in range(n_frames):
            data = frames[i % len(frames)]
            data += b"\0" * (len(data) % 2)
            fh.write(struct.pack("<HHL", 0xFFFE, 0xE000, len(data)) + data)
        fh.write(struct.pack("<HHL", 0xFFFE, 0xE0DD, 0))
    return path


def write_native_cine(path: Path, n_frames: int, rows: int = 480, columns: int = 640) -> Path:
    """An uncompressed 8-bit gray US cine (a moving gradient), written frame by frame."""
    import numpy as np
    import pydicom
    from pydicom.data import get_testdata_file

    header = pydicom.dcmread(get_testdata_file("color3d_jpeg_baseline.dcm"), stop_before_pixels=True)
    header.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    header.NumberOfFrames = n_frames
    header.Rows, header.Columns = rows, columns
    header.SamplesPerPixel, header.PhotometricInterpretation = 1, "MONOCHROME2"
    header.BitsAllocated, header.BitsStored, header.HighBit, header.PixelRepresentation = 8, 8, 7, 0
    if "PlanarConfiguration" in header:
        del header.PlanarConfiguration
    header.save_as(path, enforce_file_format=True)
    base = (np.add.outer(np.arange(rows), np.arange(columns)) % 256).astype(np.uint8)
    length = rows * columns * n_frames
    with open(path, "ab") as fh:
        fh.write(struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OB", 0, length + length % 2))
        for i in range(n_frames):
            fh.write(((base.astype(np.uint16) + i) % 256).astype(np.uint8).tobytes())
        if length % 2:
            fh.write(b"\0")
    return path
