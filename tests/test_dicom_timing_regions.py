"""Frame timing precedence, ultrasound regions and calibration rules (PS3.3 C.7.6.5, C.8.5.5; docs/dicom.md)."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from fetalviewer.dicom import (
    Calibration,
    UltrasoundRegion,
    calibration_for_points,
    open_instance,
    resolve_timing,
    single_tissue_region,
)
from tests.dicom_reference import data_file

# ----------------------------------------------------------------------------------- timing


def _ds(**values) -> Dataset:
    ds = Dataset()
    for key, value in values.items():
        setattr(ds, key, value)
    return ds


def test_timing_precedence():
    full = dict(
        FrameIncrementPointer=0x00181065,
        FrameTimeVector=[0, 40, 40, 50],
        FrameTime=20,
        CineRate=25,
        RecommendedDisplayFrameRate=10,
    )
    t = resolve_timing(_ds(**full), 4)
    assert t.source == "FrameTimeVector"
    assert t.timestamps_ms == (0.0, 40.0, 80.0, 130.0)
    assert t.frame_time_ms == pytest.approx(130 / 3)

    del full["FrameTimeVector"], full["FrameIncrementPointer"]
    t = resolve_timing(_ds(**full), 4)
    assert (t.source, t.frame_time_ms, t.fps) == ("FrameTime", 20.0, 50.0)
    assert t.timestamps_ms == (0.0, 20.0, 40.0, 60.0)

    del full["FrameTime"]
    t = resolve_timing(_ds(**full), 4)
    assert (t.source, t.frame_time_ms) == ("CineRate", 40.0)

    del full["CineRate"]
    t = resolve_timing(_ds(**full), 4)
    assert (t.source, t.fps) == ("RecommendedDisplayFrameRate", 10.0)

    t = resolve_timing(_ds(), 4)
    assert (t.source, t.fps) == ("default", pytest.approx(30.0))


def test_vector_ignored_when_pointer_names_frame_time_or_lengths_differ():
    ds = _ds(FrameIncrementPointer=0x00181063, FrameTimeVector=[0, 10, 10], FrameTime=25)
    assert resolve_timing(ds, 3).source == "FrameTime"
    ds = _ds(FrameIncrementPointer=0x00181065, FrameTimeVector=[0, 10], FrameTime=25)
    assert resolve_timing(ds, 3).source == "FrameTime"  # wrong length: not trusted
    ds = _ds(FrameTime=0, CineRate=15)
    assert resolve_timing(ds, 3).source == "CineRate"  # zero frame time skipped


def test_trim_sequencing_delay():
    t = resolve_timing(_ds(StartTrim=3, StopTrim=8, PreferredPlaybackSequencing=1, FrameDelay=12.5), 10)
    assert (t.start_trim, t.stop_trim, t.sequencing, t.frame_delay_ms) == (2, 7, "sweep", 12.5)
    t = resolve_timing(_ds(StartTrim=9, StopTrim=2), 10)  # contradictory: play everything
    assert (t.start_trim, t.stop_trim, t.sequencing) == (0, 9, "loop")
    t = resolve_timing(_ds(StopTrim=50), 10)
    assert t.stop_trim == 9


def test_frame_at_time():
    t = resolve_timing(_ds(FrameIncrementPointer=0x00181065, FrameTimeVector=[0, 10, 30]), 3)
    assert t.timestamps_ms == (0.0, 10.0, 40.0)
    assert [t.frame_at_time(ms) for ms in (-5, 0, 9.9, 10, 39.9, 40, 1000)] == [0, 0, 0, 1, 1, 2, 2]


def test_real_cine_timing():
    loop = open_instance(data_file("color3d_jpeg_baseline.dcm"))
    assert loop.timing.source == "FrameTime"
    assert loop.timing.fps == pytest.approx(30.0, abs=0.01)
    assert loop.timing.timestamps_ms[119] == pytest.approx(119 * 33.333)
    assert (loop.timing.start_trim, loop.timing.stop_trim) == (0, 119)


# ---------------------------------------------------------------------------------- regions


def test_obxxxx1a_regions():
    loop = open_instance(data_file("OBXXXX1A.dcm"))
    tissue, ecg = loop.regions
    assert tissue.is_2d_tissue and (tissue.x0, tissue.y0, tissue.x1, tissue.y1) == (120, 60, 800, 518)
    assert (tissue.spatial_format_name, tissue.data_type_name, tissue.units_name) == ("2D", "tissue", "cm")
    assert tissue.mm_per_px_x == pytest.approx(0.2623, abs=5e-5)
    assert tissue.mm_per_px_y == pytest.approx(0.2623, abs=5e-5)
    assert not ecg.is_2d_tissue and ecg.mm_per_px_x is None and ecg.mm_per_px_y is None
    assert ecg.units_x_name == "seconds"
    assert single_tissue_region(loop.regions) is tissue

    inside = calibration_for_points(loop.regions, [(200, 100), (600, 400)])
    assert inside.calibration.region_index == 0
    assert inside.calibration.mm_per_px_x == pytest.approx(10 * tissue.physical_delta_x)
    across = calibration_for_points(loop.regions, [(200, 100), (200, 550)])
    assert across.calibration is None and "one ultrasound region" in across.reason
    ecg_only = calibration_for_points(loop.regions, [(300, 530), (400, 560)])
    assert ecg_only.calibration is None and "not cm" in ecg_only.reason


def test_aloka_side_by_side_regions():
    loop = open_instance(data_file("gdcm-US-ALOKA-16.dcm"))
    left, right, _bar = loop.regions
    assert left.is_2d_tissue and right.is_2d_tissue
    assert single_tissue_region(loop.regions) is None  # two: ambiguous for automatic use
    in_right = calibration_for_points(
        loop.regions, [(right.x0 + 5, right.y0 + 5), (right.x1 - 5, right.y1 - 5)]
    )
    assert in_right.calibration.region_index == right.index
    spanning = calibration_for_points(
        loop.regions, [(left.x0 + 5, left.y0 + 5), (right.x1 - 5, right.y1 - 5)]
    )
    assert spanning.calibration is None


def _region(index=0, box=(0, 0, 99, 99), fmt=1, dtype=1, ux=3, uy=3, dx=0.01, dy=0.01):
    return UltrasoundRegion(index, *box, fmt, dtype, ux, uy, dx, dy)


def test_anisotropic_and_overlapping_regions():
    aniso = _region(dx=0.01, dy=0.02)
    cal = calibration_for_points([aniso], [(10, 10), (20, 20)]).calibration
    assert (cal.mm_per_px_x, cal.mm_per_px_y) == (pytest.approx(0.1), pytest.approx(0.2))
    assert not cal.is_isotropic
    # A colour-flow box inside the tissue region with the same scale: the tissue region is named.
    flow = _region(index=1, box=(20, 20, 60, 60), dtype=2)
    result = calibration_for_points([_region(), flow], [(30, 30), (40, 40)])
    assert result.calibration.region_index == 0
    # Two overlapping cm regions with different scales and no single tissue one: ambiguous.
    other = _region(index=1, box=(20, 20, 60, 60), dtype=2, dx=0.03, dy=0.03)
    flow_only = _region(index=0, dtype=2)
    result = calibration_for_points([flow_only, other], [(30, 30)])
    assert result.calibration is None and "ambiguous" in result.reason


def test_box_edges_and_pixel_spacing_fallback():
    region = _region(box=(10, 20, 19, 29))
    assert region.contains(10, 20) and region.contains(20, 30)  # pixel 19 spans [19, 20]
    assert not region.contains(9.9, 25) and not region.contains(15, 30.1)
    none = calibration_for_points([], [(1, 1)])
    assert none.calibration is None and "no ultrasound regions" in none.reason
    spaced = calibration_for_points([], [(1, 1)], pixel_spacing_mm=(0.3, 0.2))
    assert (spaced.calibration.mm_per_px_x, spaced.calibration.mm_per_px_y) == (0.2, 0.3)
    assert "PixelSpacing" in spaced.calibration.source
    # With regions present, PixelSpacing is not used as a fallback.
    assert calibration_for_points([region], [(50, 50)], pixel_spacing_mm=(0.3, 0.2)).calibration is None


def test_constructors_validate():
    with pytest.raises(ValueError, match="x1"):
        _region(box=(10, 0, 5, 5))
    with pytest.raises(TypeError, match="x0"):
        UltrasoundRegion(0, 1.5, 0, 5, 5, 1, 1, 3, 3, 0.1, 0.1)
    with pytest.raises(ValueError, match="mm_per_px_x"):
        Calibration(0.0, 0.1, "test")
    with pytest.raises(ValueError, match="points_xy"):
        calibration_for_points([_region()], [])
    cal = Calibration(0.25, 0.3, "test", 2)
    assert Calibration.from_dict(cal.to_dict()) == cal


def test_pixel_aspect_ratio(tmp_path):
    from pydicom.dataset import Dataset as Item

    from tests.dicom_reference import synthetic_cine, write_dataset

    assert open_instance(data_file("OBXXXX1A.dcm")).pixel_aspect_ratio == pytest.approx(1.0)
    ds, _ = synthetic_cine(n_frames=1, rows=20, columns=30)
    assert open_instance(write_dataset(tmp_path / "plain.dcm", ds)).pixel_aspect_ratio == 1.0
    ds.PixelAspectRatio = [5, 4]
    assert open_instance(write_dataset(tmp_path / "par.dcm", ds)).pixel_aspect_ratio == 1.25
    region = Item()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = 29, 19
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX, region.PhysicalDeltaY = 0.01, 0.015
    ds.SequenceOfUltrasoundRegions = [region]
    loop = open_instance(write_dataset(tmp_path / "aniso.dcm", ds))
    assert loop.pixel_aspect_ratio == pytest.approx(1.5)  # the region wins over PixelAspectRatio
    cal = calibration_for_points(loop.regions, [(1, 1), (10, 10)]).calibration
    assert (cal.mm_per_px_x, cal.mm_per_px_y) == (pytest.approx(0.1), pytest.approx(0.15))


def test_unusable_region_item_is_skipped_with_a_warning(tmp_path):
    import pydicom

    from tests.dicom_reference import write_dataset

    ds = pydicom.dcmread(data_file("OBXXXX1A.dcm"))
    ds.SequenceOfUltrasoundRegions[1].RegionLocationMaxX1 = 10  # left of MinX0 = 176
    del ds.SequenceOfUltrasoundRegions[0].RegionLocationMinY0
    loop = open_instance(write_dataset(tmp_path / "badregion.dcm", ds))
    assert loop.regions == ()
    assert len(loop.warnings) == 2 and "item 1" in loop.warnings[1] and "x1" in loop.warnings[1]
    assert loop.frame(0).shape == (600, 800, 3)  # the image still opens
