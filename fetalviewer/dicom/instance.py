"""CineLoop: one DICOM instance (still or cine) whose frames are decoded on demand.

The header is read once with ``stop_before_pixels``; the byte offset of the Pixel Data value is
remembered, and each frame is later decoded straight from the file with pydicom's decoder
(``Decoder.as_array(file, index=i)``), converted once to display uint8 (:mod:`.color`) and kept in
a bounded LRU cache sized in bytes, so memory does not grow with the number of frames. ``prefetch``
decodes ahead on one background thread; a frame being decoded there is awaited, not decoded twice.
"""

from __future__ import annotations

import copy
import os
import struct
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from fetalviewer.dicom.cache import FrameCache
from fetalviewer.dicom.color import ColorConverter, UnsupportedPhotometric
from fetalviewer.dicom.decoders import check_decoder, transfer_syntax_name
from fetalviewer.dicom.header import InstanceHeader
from fetalviewer.dicom.integrity import (
    Fragment,
    PixelLayout,
    check_dataset,
    check_frame_codestream,
    check_layout,
    drop_damaged_elements,
    scan_encapsulated,
)
from fetalviewer.dicom.regions import UltrasoundRegion, parse_regions
from fetalviewer.dicom.timing import FrameTiming, resolve_timing
from fetalviewer.errors import DecoderMissing, DicomReadError, FrameDecodeError

#: decoded-frame cache of a cine shown in the window (playback loops over the same frames)
DEFAULT_CACHE_MB = 256.0
#: cache of a cine read by a command or an analysis pass: each frame is read once, in order, so a
#: cache would only hold memory (every command stays under its peak-memory bound on long cines)
STREAM_CACHE_MB = 0.0
_DEFLATED = "1.2.840.10008.1.2.1.99"
_UNDEFINED_LENGTH = 0xFFFFFFFF
_JPEG_BASELINE = "1.2.840.10008.1.2.4.50"


def _read_header(path: Path) -> tuple[Any, int, int, str | None, list[str]]:
    """(header dataset, offset of the Pixel Data value, its length, its VR, notes on damaged elements
    that were dropped) or DicomReadError."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        with open(path, "rb") as fh:
            try:
                ds = pydicom.dcmread(fh, stop_before_pixels=True)
            except InvalidDicomError:
                fh.seek(0)
                head = fh.read(8)
                # A raw dataset without preamble still starts with a group 0002 or 0008 tag.
                if len(head) < 8 or head[:2] not in (b"\x02\x00", b"\x08\x00"):
                    raise DicomReadError(
                        f"{path}: not a DICOM file (no 'DICM' marker at byte 128 and no DICOM tags)"
                    ) from None
                fh.seek(0)
                ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
            tag_pos = fh.tell()
            notes = drop_damaged_elements(ds.file_meta) + drop_damaged_elements(ds)
            if "TransferSyntaxUID" not in ds.file_meta:
                implicit, little = ds.original_encoding
                ds.file_meta.TransferSyntaxUID = (
                    "1.2.840.10008.1.2"
                    if implicit
                    else ("1.2.840.10008.1.2.1" if little else "1.2.840.10008.1.2.2")
                )
            if str(ds.file_meta.TransferSyntaxUID) == _DEFLATED:
                return ds, -1, -1, None, notes  # deflated: the stream offsets are not file offsets
            tsyntax = ds.file_meta.TransferSyntaxUID
            # What pydicom found in the file wins over what the meta header claims (some files lie).
            implicit, little = ds.original_encoding
            implicit = tsyntax.is_implicit_VR if implicit is None else implicit
            little = tsyntax.is_little_endian if little is None else little
            endian = "<" if little else ">"
            data = fh.read(8)
            if len(data) < 8:
                raise DicomReadError(
                    f"{path}: no pixel data (the file holds no image: e.g. a report or DICOMDIR)"
                )
            group, element = struct.unpack(endian + "HH", data[:4])
            if (group, element) != (0x7FE0, 0x0010):
                raise DicomReadError(
                    f"{path}: no pixel data (found ({group:04X},{element:04X}) where Pixel Data (7FE0,0010) was expected)"
                )
            if not implicit and data[4:6] not in (b"OB", b"OW", b"UN", b"OF", b"OD", b"OL", b"OV"):
                implicit = True  # the element is written implicit although explicit was declared
            vr = None
            if implicit:
                (length,) = struct.unpack(endian + "L", data[4:8])
            else:
                vr = data[4:6].decode("ascii", "replace")
                ext = fh.read(4)
                if len(ext) < 4:
                    raise DicomReadError(f"{path}: file is truncated inside the Pixel Data header")
                (length,) = struct.unpack(endian + "L", ext)
            offset = fh.tell()
    except DicomReadError:
        raise
    except FileNotFoundError:
        raise DicomReadError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DicomReadError(f"{path}: is a folder, not a DICOM file") from None
    except PermissionError:
        raise DicomReadError(f"{path}: permission denied") from None
    except Exception as exc:  # pydicom raises many kinds on damaged headers
        raise DicomReadError(
            f"{path}: truncated or damaged DICOM header ({type(exc).__name__}: {exc})"
        ) from None
    if tag_pos < 0:
        raise DicomReadError(f"{path}: could not locate the pixel data")
    return ds, offset, length, vr, notes


class CineLoop:
    """One instance; frames are read from ``path`` on demand (see module doc)."""

    def __init__(self, path: str | os.PathLike[str], cache_mb: float = DEFAULT_CACHE_MB) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or PathLike, got {type(path).__name__}")
        if isinstance(cache_mb, bool) or not isinstance(cache_mb, (int, float)) or cache_mb < 0:
            raise ValueError(f"cache_mb must be a number >= 0, got {cache_mb!r}")
        self.path = Path(path)
        try:
            self._open(cache_mb)
        except DicomReadError:
            raise
        except Exception as exc:  # a damaged value met while reading the header: the file is refused
            raise DicomReadError(
                f"{self.path}: damaged DICOM header ({type(exc).__name__}: {str(exc)[:200]})"
            ) from None

    def _open(self, cache_mb: float) -> None:
        ds, offset, length, pixel_vr, notes = _read_header(self.path)
        self._ds = ds
        self._value_offset = offset
        meta = ds.file_meta
        self.transfer_syntax_uid = str(meta.TransferSyntaxUID)
        self.transfer_syntax_name = transfer_syntax_name(self.transfer_syntax_uid)
        self.sop_instance_uid = str(ds.get("SOPInstanceUID", meta.get("MediaStorageSOPInstanceUID", "")))
        self.sop_class_uid = str(ds.get("SOPClassUID", meta.get("MediaStorageSOPClassUID", "")))
        self.study_instance_uid = str(ds.get("StudyInstanceUID", ""))
        self.series_instance_uid = str(ds.get("SeriesInstanceUID", ""))
        self.modality = str(ds.get("Modality", ""))
        try:
            self.photometric = str(ds.PhotometricInterpretation).strip().upper()
        except Exception as exc:
            raise DicomReadError(f"{self.path}: the image pixel description is incomplete ({exc})") from None
        self._decoder = check_decoder(self.transfer_syntax_uid, str(self.path))
        self._in_memory: Any = None
        self._fragments: list[Fragment] = []
        self._first_fragment = -1
        #: Header claims against the pixel data present (frames really usable, problems found).
        self.layout: PixelLayout = self._check_pixels(offset, length)
        self.rows = self.layout.rows
        self.columns = self.layout.columns
        self.samples_per_pixel = self.layout.samples_per_pixel
        self.n_frames = self.layout.frames
        #: NumberOfFrames as the header states it (None when it is not a count).
        self.declared_frames = self.layout.declared_frames
        self.is_color = self.samples_per_pixel == 3 or self.photometric == "PALETTE COLOR"
        self._opts = self._pixel_options(pixel_vr)
        # Pillow (libjpeg-turbo) returns RGB from JPEG baseline in C; pydicom's own YCbCr -> RGB
        # after pylibjpeg is several times slower. Other plugins remain the fallback.
        plugins = tuple(getattr(self._decoder, "available_plugins", ()))
        jpeg = self.transfer_syntax_uid == _JPEG_BASELINE
        self._preferred_plugin = "pillow" if jpeg and "pillow" in plugins and len(plugins) > 1 else ""
        #: Non-fatal header problems a user should see (e.g. an unusable ultrasound region).
        self.warnings: list[str] = [*notes, *self.layout.problems]
        self.regions: tuple[UltrasoundRegion, ...] = parse_regions(ds, self.warnings)
        self.timing: FrameTiming = resolve_timing(ds, self.n_frames)
        self.header = InstanceHeader.from_dataset(ds)
        self.pixel_spacing_mm = self._pixel_spacing()
        self._converter = ColorConverter(ds)
        self._cache = FrameCache(int(cache_mb * 1024 * 1024))
        self._lock = threading.Lock()
        self._in_flight: dict[int, threading.Event] = {}
        self._bad_frames: dict[int, str] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._prefetch_generation = 0
        self._closed = False

    # ------------------------------------------------------------------ setup
    def _check_pixels(self, offset: int, length: int) -> PixelLayout:
        """Frames, size and storage checked against the bytes present (:mod:`.integrity`)."""
        uid = self.transfer_syntax_uid
        if offset < 0:  # deflated: the whole dataset must be inflated in memory to see its pixels
            import pydicom

            try:
                self._in_memory = pydicom.dcmread(self.path)
            except Exception as exc:
                raise DicomReadError(
                    f"{self.path}: damaged deflated dataset ({type(exc).__name__}: {exc})"
                ) from None
            layout = check_dataset(self._in_memory, str(self.path))
            if layout is None:
                raise DicomReadError(f"{self.path}: no pixel data")
            return layout
        size = self.path.stat().st_size
        problems: list[str] = []
        encapsulated = length == _UNDEFINED_LENGTH or self._ds.file_meta.TransferSyntaxUID.is_compressed
        end = size if length == _UNDEFINED_LENGTH else offset + length
        if end > size:
            problems.append(
                f"the file is truncated: Pixel Data declares {length:,} bytes, {size - offset:,} are present"
            )
            end = size
        if not encapsulated:
            return check_layout(
                self._ds,
                str(self.path),
                transfer_syntax_uid=uid,
                native_length=end - offset,
                problems=problems,
            )
        with open(self.path, "rb") as fh:
            offsets, fragments, scan_problems, self._first_fragment = scan_encapsulated(
                fh, offset, end, str(self.path)
            )
        problems.extend(scan_problems)
        if not fragments:
            reason = "; ".join(problems) or "no fragment"
            raise DicomReadError(f"{self.path}: the compressed pixel data holds no complete frame ({reason})")
        self._fragments = fragments
        layout = check_layout(
            self._ds,
            str(self.path),
            transfer_syntax_uid=uid,
            fragments=fragments,
            basic_offsets=offsets,
            problems=problems,
        )
        first = fragments[layout.frame_fragments[0][0]]
        with open(self.path, "rb") as fh:  # the first frame's codestream header against Rows x Columns
            fh.seek(self._first_fragment + first.offset + 8)
            head = fh.read(min(first.length, 1 << 16))
        try:
            check_frame_codestream(layout, uid, head, str(self.path), 0, partial=first.length > len(head))
        except FrameDecodeError as exc:
            raise DicomReadError(str(exc).replace("; refused", "; no frame can be shown")) from None
        return layout

    def _pixel_options(self, pixel_vr: str | None) -> dict[str, Any]:
        from pydicom.pixels import as_pixel_options

        opts = as_pixel_options(self._ds)
        opts["transfer_syntax_uid"] = self._ds.file_meta.TransferSyntaxUID
        opts["pixel_keyword"] = "PixelData"
        opts["number_of_frames"] = self.n_frames
        opts.pop("extended_offsets", None)  # frames are located by the integrity scan instead
        if pixel_vr:
            opts["pixel_vr"] = pixel_vr
        return opts

    @property
    def pixel_aspect_ratio(self) -> float:
        """Height / width of one pixel on screen (1.0 = square), for a locked-aspect view.

        From the single 2D tissue region's PhysicalDeltaY / PhysicalDeltaX when both are in cm,
        else PixelAspectRatio (0028,0034) (row spacing / column spacing), else PixelSpacing, else 1.
        """
        from fetalviewer.dicom.calibration import single_tissue_region

        region = single_tissue_region(self.regions)
        if region is not None and region.mm_per_px_x and region.mm_per_px_y:
            return region.mm_per_px_y / region.mm_per_px_x
        ratio = self._ds.get("PixelAspectRatio")
        try:
            if ratio is not None and len(ratio) == 2 and float(ratio[0]) > 0 and float(ratio[1]) > 0:
                return float(ratio[0]) / float(ratio[1])
        except (TypeError, ValueError):
            pass
        if self.pixel_spacing_mm is not None:
            return self.pixel_spacing_mm[0] / self.pixel_spacing_mm[1]
        return 1.0

    def _pixel_spacing(self) -> tuple[float, float] | None:
        spacing = self._ds.get("PixelSpacing")
        if spacing is None or len(spacing) != 2:
            return None
        try:
            row_mm, col_mm = float(spacing[0]), float(spacing[1])
        except (TypeError, ValueError):
            return None
        return (row_mm, col_mm) if row_mm > 0 and col_mm > 0 else None

    # ----------------------------------------------------------------- frames
    @property
    def cache_bytes(self) -> int:
        """Bytes of decoded frames held in the cache right now."""
        return self._cache.bytes_used

    @property
    def cache_limit_bytes(self) -> int:
        return self._cache.max_bytes

    def _check_index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"frame index must be an int, got {type(index).__name__}")
        index = int(index)
        if not 0 <= index < self.n_frames:
            raise IndexError(f"{self.path}: frame index {index} out of range 0..{self.n_frames - 1}")
        return index

    def _decode(self, index: int) -> np.ndarray:
        try:
            if self._value_offset < 0:
                if self._in_memory is None:
                    import pydicom

                    self._in_memory = pydicom.dcmread(self.path)
                arr, meta = self._decoder.as_array(self._in_memory, index=index)
            else:
                arr, meta = self._decode_from_file(index)
            photometric = str(meta.get("photometric_interpretation", self.photometric))
            if arr.ndim == 3 and self.samples_per_pixel == 1:
                arr = arr[0]  # some plugins keep a leading frame axis for one frame
            return self._converter.to_display(arr, photometric)
        except DicomReadError:
            raise
        except MemoryError:
            raise FrameDecodeError(
                f"{self.path}: frame {index + 1}: not enough memory to decode it"
            ) from None
        except UnsupportedPhotometric as exc:
            raise FrameDecodeError(f"{self.path}: frame {index + 1}: {exc}") from None
        except Exception as exc:
            raise FrameDecodeError(
                f"{self.path}: frame {index + 1} could not be decoded ({type(exc).__name__}: {exc})"
            ) from None

    def _frame_source(self, fh: Any, index: int) -> tuple[Any, int, dict[str, Any]]:
        """(source, index, options) for pydicom's decoder: the file itself for native data; for
        encapsulated data the frame's own fragments, checked (:func:`check_frame_codestream`) and
        re-wrapped as a one-frame value, so no header claim decides what is read or allocated."""
        if not self.layout.encapsulated:
            fh.seek(self._value_offset)
            return fh, index, self._opts
        from pydicom.encaps import encapsulate

        parts = []
        for number in self.layout.frame_fragments[index]:
            fragment = self._fragments[number]
            fh.seek(self._first_fragment + fragment.offset + 8)
            part = fh.read(fragment.length)
            if len(part) != fragment.length:
                raise FrameDecodeError(f"{self.path}: frame {index + 1}: the file changed while reading it")
            parts.append(part)
        data = b"".join(parts)
        check_frame_codestream(self.layout, self.transfer_syntax_uid, data, str(self.path), index)
        return encapsulate([data]), 0, {**self._opts, "number_of_frames": 1}

    def _decode_from_file(self, index: int) -> tuple[np.ndarray, dict]:
        with open(self.path, "rb") as fh:
            src, at, opts = self._frame_source(fh, index)
            if self._preferred_plugin:
                try:
                    return self._decoder.as_array(
                        src, index=at, decoding_plugin=self._preferred_plugin, **opts
                    )
                except Exception:
                    if src is fh:
                        fh.seek(self._value_offset)
                    # this frame: try every available plugin below
            return self._decoder.as_array(src, index=at, **opts)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as displayed: read-only, C-contiguous uint8 (rows, cols) or (rows, cols, 3)."""
        index = self._check_index(index)
        if self._closed:
            raise DicomReadError(f"{self.path}: the instance was closed")
        while True:
            cached = self._cache.get(index)
            if cached is not None:
                return cached
            with self._lock:
                if index in self._bad_frames:
                    raise FrameDecodeError(self._bad_frames[index])
                event = self._in_flight.get(index)
                if event is None:
                    event = threading.Event()
                    self._in_flight[index] = event
                    owner = True
                else:
                    owner = False
            if not owner:
                event.wait()
                continue  # the other decoder finished: look again (cache, or bad frame)
            try:
                out = self._decode(index)
                out.setflags(write=False)
                self._cache.put(index, out)
                return out
            except FrameDecodeError as exc:
                with self._lock:
                    self._bad_frames[index] = str(exc)
                raise
            finally:
                with self._lock:
                    self._in_flight.pop(index, None)
                event.set()

    def prefetch(self, indices: Iterable[int]) -> Future | None:
        """Decode ``indices`` ahead on the background worker; replaces any earlier read-ahead request.

        Returns the job's Future (done when the read-ahead finished or was superseded), or None
        once the instance is closed. Decode errors are not raised here; ``frame`` reports them.
        """
        if self._closed:
            return None
        wanted = [self._check_index(i) for i in indices]
        with self._lock:
            self._prefetch_generation += 1
            generation = self._prefetch_generation
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetalviewer-prefetch")
            executor = self._executor
        # At most as many frames as the cache holds, or read-ahead would evict its own work.
        frame_bytes = self.rows * self.columns * (3 if self.is_color else 1)
        limit = max(1, self._cache.max_bytes // max(frame_bytes, 1) - 1)
        return executor.submit(self._prefetch_job, generation, wanted[:limit])

    def _prefetch_job(self, generation: int, indices: list[int]) -> None:
        for index in indices:
            if self._closed or generation != self._prefetch_generation:
                return
            if self._cache.contains(index):
                continue
            try:
                self.frame(index)
            except (FrameDecodeError, DicomReadError):
                continue

    def is_cached(self, index: int) -> bool:
        return self._cache.contains(self._check_index(index))

    # ---------------------------------------------------------------- header
    def dataset(self) -> Any:
        """A copy of the pydicom header (no pixel data)."""
        return copy.deepcopy(self._ds)

    def close(self) -> None:
        """Stop read-ahead and drop cached frames; later ``frame`` calls raise DicomReadError."""
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        self._cache.clear()
        self._in_memory = None

    def __enter__(self) -> CineLoop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"CineLoop({str(self.path)!r}, frames={self.n_frames}, {self.columns}x{self.rows}, "
            f"{self.photometric}, {self.transfer_syntax_name})"
        )

    def summary(self) -> dict[str, Any]:
        """Plain dict for ``fetalviewer info --json`` and the metadata panel."""
        return {
            "path": str(self.path),
            "sop_instance_uid": self.sop_instance_uid,
            "sop_class_uid": self.sop_class_uid,
            "study_instance_uid": self.study_instance_uid,
            "series_instance_uid": self.series_instance_uid,
            "modality": self.modality,
            "frames": self.n_frames,
            "declared_frames": self.declared_frames,
            "integrity_problems": list(self.layout.problems),
            "rows": self.rows,
            "columns": self.columns,
            "photometric_interpretation": self.photometric,
            "transfer_syntax_uid": self.transfer_syntax_uid,
            "transfer_syntax": self.transfer_syntax_name,
            "frame_time_ms": self.timing.frame_time_ms,
            "fps": self.timing.fps,
            "timing_source": self.timing.source,
            "start_trim": self.timing.start_trim,
            "stop_trim": self.timing.stop_trim,
            "sequencing": self.timing.sequencing,
            "regions": [r.to_dict() for r in self.regions],
            "pixel_spacing_mm": list(self.pixel_spacing_mm) if self.pixel_spacing_mm else None,
            "pixel_aspect_ratio": self.pixel_aspect_ratio,
            "warnings": list(self.warnings),
        }


def open_instance(path: str | os.PathLike[str], cache_mb: float = DEFAULT_CACHE_MB) -> CineLoop:
    """Open one DICOM instance; raises DicomReadError / DecoderMissing with a message naming the file."""
    return CineLoop(path, cache_mb=cache_mb)


__all__ = ["CineLoop", "open_instance", "DecoderMissing"]
