"""Frame numbers as people see them: 1-based, "frame 13 of 120".

Inside the program and in machine-readable output (JSON ``frame_index``, cache keys) frames are
0-based indices. Everything meant for people (window, command-line text, PDF, CSV for spreadsheets)
shows the 1-based number, as DICOM does (Referenced Frame Number, PS3.3 C.7.6.16.2.6.1 counts from 1).
"""

from __future__ import annotations


def frame_number(frame_index: int) -> int:
    """The 1-based number people see for the 0-based ``frame_index``."""
    index = int(frame_index)
    if index < 0:
        raise ValueError(f"frame_index must be 0 or more, got {frame_index}")
    return index + 1


def frame_label(frame_index: int | None, n_frames: int | None = None) -> str:
    """``"frame 13 of 120"`` for 0-based ``frame_index`` 12 (``"frame 13"`` without ``n_frames``)."""
    if frame_index is None:
        return ""
    text = f"frame {frame_number(frame_index)}"
    return text if n_frames is None else f"{text} of {int(n_frames)}"
