"""Work around PySide6's reference counting of None/True/False on CPython < 3.12 (seen: PySide6 6.12.0, 3.11).

Measured here: every PySide6 call that returns ``None`` (``QLabel.setText``, ``QWidget.update``,
``QTimer.start``, ``QGraphicsItem.setPos``, ``processEvents``, ...) gives back ``None`` without taking a
reference to it, and ``SignalInstance.emit`` does the same with ``True``; other paths add references. On
CPython 3.12+ these objects are immortal and the bug is harmless; on 3.11 each call moves their reference
counts, and when one reaches zero the interpreter aborts ("Fatal Python error: bool_dealloc: deallocating
True or False" after a few hundred signal emissions; ``none_dealloc`` later or at exit). A window playing a
cine makes thousands of such calls a minute.

:func:`install` makes the three singletons effectively immortal, as CPython 3.12 does, by adding 2**40 to
their reference counts (the first field of every object in a release build). Drift in either direction then
never reaches zero within any session. Nothing is done on CPython 3.12+ or on a debug build.
"""

from __future__ import annotations

import ctypes
import sys

#: References added to each singleton: far more than any session can drain, far below overflow.
EXTRA_REFERENCES = 1 << 40
_done: dict[str, int] = {}


def needed() -> bool:
    """True on the interpreters where the singletons are mortal (CPython < 3.12, release build)."""
    return (
        sys.implementation.name == "cpython"
        and sys.version_info < (3, 12)
        and not hasattr(sys, "gettotalrefcount")  # debug builds have another object layout
    )


def install() -> dict[str, int]:
    """Make None, True and False effectively immortal where needed (idempotent); returns what was added."""
    if _done or not needed():
        return dict(_done)
    for name, obj in (("None", None), ("True", True), ("False", False)):
        refcount = ctypes.c_ssize_t.from_address(id(obj))
        if refcount.value != sys.getrefcount(obj) - 1:  # layout check: ob_refcnt must be the first field
            return dict(_done)
        refcount.value += EXTRA_REFERENCES
        _done[name] = EXTRA_REFERENCES
    return dict(_done)
