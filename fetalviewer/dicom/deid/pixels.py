"""Clean Pixel Data option (PS3.15 E.3.1) for ultrasound: decode every frame to 8-bit gray or RGB,
black out everything outside the 2D imaging regions, and store the frames RLE Lossless."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from fetalviewer.errors import DicomReadError


def imaging_boxes(ds: Dataset) -> list[tuple[int, int, int, int]]:
    """Inclusive pixel boxes (x0, y0, x1, y1) of the 2D imaging regions (tissue or colour flow),
    clipped to the image; from the Sequence of Ultrasound Regions (PS3.3 C.8.5.5)."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    boxes = []
    for region in ds.get("SequenceOfUltrasoundRegions", []):
        if int(region.get("RegionSpatialFormat", 0)) != 1:
            continue
        if int(region.get("RegionDataType", 0)) not in (1, 2):
            continue
        x0 = max(0, int(region.RegionLocationMinX0))
        y0 = max(0, int(region.RegionLocationMinY0))
        x1 = min(cols - 1, int(region.RegionLocationMaxX1))
        y1 = min(rows - 1, int(region.RegionLocationMaxY1))
        if x1 >= x0 and y1 >= y0:
            boxes.append((x0, y0, x1, y1))
    return boxes


def blackout_outside(frames: np.ndarray, boxes, frame_ndim: int) -> np.ndarray:
    """Return a copy of ``frames`` (one frame or a stack) that is 0 outside the union of ``boxes``."""
    keep = np.zeros(frames.shape[-frame_ndim:][:2], dtype=bool)
    for x0, y0, x1, y1 in boxes:
        keep[y0 : y1 + 1, x0 : x1 + 1] = True
    cleaned = frames.copy()
    if frame_ndim == 3:
        cleaned[..., ~keep, :] = 0
    else:
        cleaned[..., ~keep] = 0
    return cleaned


def decode_frames_uint8(ds: Dataset, path: Path | str = "") -> tuple[np.ndarray, str]:
    """All frames as uint8, (n, rows, cols) gray or (n, rows, cols, 3) RGB, and the photometric name."""
    from pydicom.pixels import apply_color_lut

    try:
        arr = ds.pixel_array
    except Exception as exc:  # decoder missing, truncated data, ...
        raise DicomReadError(f"{path}: pixel data cannot be decoded ({exc})") from exc
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


def _decode_with_engine(path: Path | str) -> tuple[np.ndarray, str]:
    """All frames through the app's own DICOM engine (same colour conversion as the viewer, and its
    YBR conversion is several times faster than pydicom's); uint8 gray or RGB."""
    from fetalviewer.dicom.instance import open_instance

    with open_instance(path, cache_mb=0) as loop:
        first = loop.frame(0)
        frames = np.empty((loop.n_frames, *first.shape), dtype=np.uint8)
        frames[0] = first
        for index in range(1, loop.n_frames):
            frames[index] = loop.frame(index)
    return frames, ("RGB" if first.ndim == 3 else "MONOCHROME2")


def _store_pixels(ds: Dataset, frames: np.ndarray, photometric: str) -> None:
    """Write ``frames`` into ``ds`` as 8-bit RLE Lossless (or uncompressed) with consistent attributes."""
    for keyword in (
        "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
        "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
        "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
        "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
        "SegmentedBluePaletteColorLookupTableData", "PaletteColorLookupTableUID", "PixelPaddingValue",
        "SmallestImagePixelValue", "LargestImagePixelValue", "PlanarConfiguration",
    ):  # fmt: skip
        if keyword in ds:
            delattr(ds, keyword)
    ds.PhotometricInterpretation = photometric
    ds.SamplesPerPixel = 3 if photometric == "RGB" else 1
    if photometric == "RGB":
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    data = frames[0] if frames.shape[0] == 1 else frames
    try:
        ds.compress(RLELossless, data, encoding_plugin="pylibjpeg", generate_instance_uid=False)
    except Exception:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = data.tobytes()
        ds["PixelData"].VR = "OB"
