"""Shared model fixtures: a tiny FetalCLIP-family config with random weights, saved in the official format.

Use from a test module with ``pytest_plugins = ["tests.model_fixtures"]`` or import the helpers.
The tiny config (``resources/model_configs/FetalCLIP_tiny_test.json``) has the reference architecture
family (ViT + causal text transformer, context 117, vocabulary 49408, 24 vision blocks so that blocks
6/8/12/24 exist) with narrow layers: it builds and runs in well under a second.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fetalviewer.paths import resources_dir

TINY_CONFIG = resources_dir() / "model_configs" / "FetalCLIP_tiny_test.json"


def tiny_state_dict(seed: int = 0):
    """Random-weight state dict of the tiny model (deterministic for a seed)."""
    import torch

    from fetalviewer.model.loader import build_model, register_config

    name, _ = register_config(TINY_CONFIG)
    torch.manual_seed(seed)
    model = build_model(name)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def save_official(state, path: Path, prefix: str = "module.") -> Path:
    """Write ``state`` as the official FetalCLIP checkpoint: {"state_dict": ..., "epoch": ...}."""
    import torch

    torch.save({"state_dict": {prefix + k: v for k, v in state.items()}, "epoch": 7}, path)
    return path


@pytest.fixture(scope="session")
def tiny_state():
    return tiny_state_dict(seed=0)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_state) -> Path:
    """Path of a tiny random-weight checkpoint in the official format (with ``module.`` prefixes)."""
    return save_official(tiny_state, tmp_path_factory.mktemp("weights") / "tiny_fetalclip.pt")


@pytest.fixture(scope="session")
def tiny_config() -> Path:
    return TINY_CONFIG


@pytest.fixture()
def tiny_loaded(tiny_weights):
    """A LoadedModel of the tiny checkpoint on the CPU (fresh per test: counters start at zero)."""
    from fetalviewer.model.loader import load_checkpoint

    return load_checkpoint(tiny_weights, TINY_CONFIG, device="cpu")


def write_us_dicom(
    path: Path,
    frames,
    region_box: tuple[int, int, int, int] | None = (10, 8, 69, 51),
    delta_cm: tuple[float, float] = (0.02, 0.02),
) -> Path:
    """A small uncompressed US (multi-frame) DICOM with one 2D tissue region in cm (or none).

    ``frames``: uint8 array (n, rows, cols) or (rows, cols); ``region_box``: inclusive (x0, y0, x1, y1).
    """
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    frames = np.asarray(frames, dtype=np.uint8)
    if frames.ndim == 2:
        frames = frames[None]
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1" if len(frames) > 1 else "1.2.840.10008.5.1.4.1.1.6.1"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "US"
    ds.PatientName = "MODEL^TEST"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(frames.shape[1]), int(frames.shape[2])
    if len(frames) > 1:
        ds.NumberOfFrames = len(frames)
        ds.FrameTime = 40.0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if region_box is not None:
        region = Dataset()
        region.RegionSpatialFormat = 1
        region.RegionDataType = 1
        region.RegionFlags = 0
        (
            region.RegionLocationMinX0,
            region.RegionLocationMinY0,
            region.RegionLocationMaxX1,
            region.RegionLocationMaxY1,
        ) = region_box
        region.PhysicalUnitsXDirection = 3
        region.PhysicalUnitsYDirection = 3
        region.PhysicalDeltaX, region.PhysicalDeltaY = delta_cm
        ds.SequenceOfUltrasoundRegions = [region]
    ds.PixelData = frames.tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.save_as(path, enforce_file_format=True)
    return path
