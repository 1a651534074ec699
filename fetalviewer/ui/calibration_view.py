"""Which ultrasound regions the window shows as calibrated, and the display pixel shape.

A region is calibrated when it is a 2D tissue region whose X and Y units are cm (DICOM PS3.3
C.8.5.5.1, Sequence of Ultrasound Regions; mm/px = 10 x PhysicalDelta), which is what the contract's
``UltrasoundRegion.mm_per_px_x`` / ``mm_per_px_y`` report (None otherwise). The decision whether a
given measurement is calibrated stays with ``calibration_for_points`` in the DICOM engine.
"""

from __future__ import annotations


def calibrated_region_indices(regions) -> set[int]:
    """Indices of the 2D tissue regions that carry a mm/px calibration."""
    return {
        r.index for r in regions
        if r.is_2d_tissue and r.mm_per_px_x is not None and r.mm_per_px_y is not None
    }


def calibrated_region_index(regions) -> int | None:
    """The index of the one calibrated 2D tissue region, or None when there are none or several."""
    found = calibrated_region_indices(regions)
    return next(iter(found)) if len(found) == 1 else None


def display_calibration(regions) -> tuple[float, float] | None:
    """(mm/px x, mm/px y) used for the display aspect: the one calibrated region's, else None."""
    idx = calibrated_region_index(regions)
    if idx is None:
        return None
    region = next(r for r in regions if r.index == idx)
    return float(region.mm_per_px_x), float(region.mm_per_px_y)


def describe_region(region) -> str:
    """One line for the metadata panel: box, format, data type, units and mm/px."""
    box = f"({region.x0},{region.y0})-({region.x1},{region.y1})"
    if region.mm_per_px_x is not None and region.mm_per_px_y is not None:
        cal = f"{region.mm_per_px_x:.4f} x {region.mm_per_px_y:.4f} mm/px"
    else:
        cal = "not calibrated"
    return (f"#{region.index} {box} {region.spatial_format_name} / {region.data_type_name}, "
            f"units {region.units_name}: {cal}")
