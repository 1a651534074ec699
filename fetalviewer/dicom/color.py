"""Convert a decoded frame, once, to what the screen shows: uint8 gray (rows, cols) or RGB (rows, cols, 3).

Photometric interpretations (PS3.3 C.7.6.3.1.2):

* MONOCHROME2: 8-bit data as is; more bits go through the Modality LUT / rescale and the file's
  first VOI window (``pydicom.pixels.apply_modality_lut`` / ``apply_voi_lut``), or, without a
  window, the full stored range (Smallest/LargestImagePixelValue when given) mapped linearly to 0..255;
* MONOCHROME1: the same, then inverted (minimum is white);
* RGB: planar configuration is undone by pydicom's decoder; >8-bit samples are shifted to 8 bits;
* YBR_FULL / YBR_FULL_422: pydicom converts to RGB while decoding (and JPEG decoders may already
  have done so); the decoder's returned photometric interpretation says which, and a frame still
  in YBR_FULL(_422) is converted here with ``pydicom.pixels.convert_color_space``;
* YBR_RCT / YBR_ICT: the JPEG 2000 decoder applies the inverse component transform and returns RGB;
* PALETTE COLOR: 8- or 16-bit LUT entries, normal or segmented, through
  ``pydicom.pixels.apply_color_lut``; 16-bit entries are reduced to 8 bits by rounding v / 257.

For speed the LUT-based conversions are tabulated once over every possible stored value and each
frame is then a single table look-up.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

GRAY_PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2")
YBR_CONVERTIBLE = ("YBR_FULL", "YBR_FULL_422")


class UnsupportedPhotometric(ValueError):
    """The decoded frame is in a colour space this module cannot display."""


def _to_uint8_from_16(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)


_PALETTE_DATA = (
    "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData",
)


def _little_endian_palette(ds: Any) -> Any:
    """``ds``, or a copy whose normal 16-bit palette data is byte-swapped to little endian.

    pydicom 3.0's ``apply_color_lut`` reads normal (non-segmented) LUT data as little endian even
    in Explicit VR Big Endian files; segmented LUTs are handled correctly there.
    """
    encoding = getattr(ds, "original_encoding", (None, True))
    if encoding[1] is not False or not all(k in ds for k in _PALETTE_DATA):
        return ds
    from pydicom.dataset import Dataset

    out = Dataset()
    for element in ds:
        if 0x00281100 <= element.tag <= 0x00281223:
            out.add(copy.deepcopy(element))
    for keyword in _PALETTE_DATA:
        data = ds[keyword].value
        if len(data) % 2 == 0 and len(data) >= 2:
            out[keyword].value = np.frombuffer(data, dtype=">u2").astype("<u2").tobytes()
    return out


class ColorConverter:
    """Per-instance converter, built from the header; tables are computed on first use."""

    def __init__(self, ds: Any) -> None:
        if ds is None:
            raise TypeError("ColorConverter needs the instance header dataset, got None")
        self._ds = ds
        self.bits_allocated = int(ds.get("BitsAllocated", 8) or 8)
        self.bits_stored = int(ds.get("BitsStored", self.bits_allocated) or self.bits_allocated)
        self.signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
        self._palette_lut: np.ndarray | None = None
        self._gray_lut: np.ndarray | None = None

    # ----------------------------------------------------------------- tables
    def _stored_range(self) -> tuple[int, int]:
        bits = self.bits_stored
        if self.signed:
            return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        return 0, (1 << bits) - 1

    def _palette_table(self) -> np.ndarray:
        if self._palette_lut is None:
            from pydicom.pixels import apply_color_lut

            bits = min(self.bits_allocated, 16)
            indices = np.arange(0, 1 << bits, dtype=np.uint16 if bits > 8 else np.uint8)
            table = np.asarray(apply_color_lut(indices, _little_endian_palette(self._ds)))
            if table.dtype != np.uint8:
                table = _to_uint8_from_16(table)
            self._palette_lut = np.ascontiguousarray(table.reshape(-1, 3))
        return self._palette_lut

    def _gray_table(self) -> np.ndarray:
        """uint8 table indexed by (stored value - stored minimum)."""
        if self._gray_lut is None:
            from pydicom.pixels import apply_modality_lut, apply_voi_lut

            lo, hi = self._stored_range()
            values = np.arange(lo, hi + 1, dtype=np.int64)
            ds = self._ds
            out = np.asarray(apply_modality_lut(values, ds), dtype=np.float64)
            if "WindowCenter" in ds and "WindowWidth" in ds or "VOILUTSequence" in ds:
                voi = np.asarray(apply_voi_lut(out, ds, index=0), dtype=np.float64)
                vlo, vhi = self._voi_output_range(voi)
            else:
                voi = out
                small, large = ds.get("SmallestImagePixelValue"), ds.get("LargestImagePixelValue")
                if isinstance(small, int) and isinstance(large, int) and large > small:
                    vlo = float(apply_modality_lut(np.array([small]), ds)[0])
                    vhi = float(apply_modality_lut(np.array([large]), ds)[0])
                else:
                    vlo, vhi = float(out.min()), float(out.max())
            span = max(vhi - vlo, 1e-12)
            scaled = np.clip(np.rint((voi - vlo) / span * 255.0), 0, 255).astype(np.uint8)
            self._gray_lut = scaled
        return self._gray_lut

    def _voi_output_range(self, voi: np.ndarray) -> tuple[float, float]:
        ds = self._ds
        if "VOILUTSequence" in ds:
            bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
            return 0.0, float((1 << bits) - 1)
        # apply_windowing maps to the full output range of the stored type (PS3.3 C.11.2.1.2).
        lo, hi = self._stored_range()
        return float(min(lo, voi.min())), float(max(hi, voi.max()))

    # -------------------------------------------------------------- conversion
    def to_display(self, arr: np.ndarray, photometric: str) -> np.ndarray:
        """``arr`` as decoded (one frame) in ``photometric`` -> C-contiguous uint8 gray or RGB."""
        photometric = str(photometric).strip().upper()
        if photometric in GRAY_PHOTOMETRICS:
            out = self._gray(arr)
            if photometric == "MONOCHROME1":
                out = 255 - out
        elif photometric == "PALETTE COLOR":
            idx = arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))
            out = self._palette_table()[idx]
        elif photometric == "RGB":
            out = self._rgb(arr)
        elif photometric in YBR_CONVERTIBLE:
            from pydicom.pixels import convert_color_space

            out = convert_color_space(self._rgb(arr), photometric, "RGB")
        else:
            raise UnsupportedPhotometric(f"photometric interpretation {photometric!r} cannot be displayed")
        if out.ndim == 3 and out.shape[2] != 3:
            raise UnsupportedPhotometric(
                f"{photometric} frame has {out.shape[2]} samples per pixel, expected 3"
            )
        return np.ascontiguousarray(out, dtype=np.uint8)

    def _gray(self, arr: np.ndarray) -> np.ndarray:
        if arr.ndim != 2:
            raise UnsupportedPhotometric(f"grayscale frame has shape {arr.shape}, expected (rows, cols)")
        if arr.dtype == np.uint8 and self.bits_stored <= 8:
            return arr  # 8-bit ultrasound is shown as stored; windows apply to deeper data only
        if self.bits_stored > 16:
            return self._gray_direct(arr)
        lo, _ = self._stored_range()
        values = arr.astype(np.int64) - lo
        table = self._gray_table()
        return table[np.clip(values, 0, len(table) - 1)]

    def _gray_direct(self, arr: np.ndarray) -> np.ndarray:
        """Deep (> 16-bit) data, too wide for a table: rescale, then the file's window or this
        frame's own value range."""
        from pydicom.pixels import apply_modality_lut, apply_voi_lut

        ds = self._ds
        values = np.asarray(apply_modality_lut(arr, ds), dtype=np.float64)
        if ("WindowCenter" in ds and "WindowWidth" in ds) or "VOILUTSequence" in ds:
            values = np.asarray(apply_voi_lut(values, ds, index=0), dtype=np.float64)
            lo, hi = self._voi_output_range(values)
        else:
            lo, hi = float(values.min()), float(values.max())
        span = max(hi - lo, 1e-12)
        return np.clip(np.rint((values - lo) / span * 255.0), 0, 255).astype(np.uint8)

    def _rgb(self, arr: np.ndarray) -> np.ndarray:
        if arr.ndim != 3:
            raise UnsupportedPhotometric(f"colour frame has shape {arr.shape}, expected (rows, cols, 3)")
        if arr.dtype == np.uint8:
            return arr
        shift = max(self.bits_stored - 8, 0)
        return (arr.astype(np.uint32) >> shift).clip(0, 255).astype(np.uint8)
