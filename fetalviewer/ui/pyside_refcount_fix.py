"""Work around reference-count leaks of the installed PySide6 (seen with 6.12.0, CPython 3.11).

Measured here: every ``SignalInstance.emit(...)`` called from Python returns ``True`` without taking a
reference to it, and every ``QCoreApplication.processEvents()`` returns ``None`` the same way. Each call
therefore removes one reference from the interpreter's ``True`` / ``None``; after a few hundred signal
emissions (True starts with ~600 references) CPython 3.11 aborts with "Fatal Python error: bool_dealloc:
deallocating True or False" (or ``none_dealloc``). A window that plays a cine emits thousands of signals a
minute, so the app would crash within minutes.

:func:`install` probes each function once (a few calls, counting the references before and after) and,
only when the leak is present, wraps it so that the missing reference is added back after every call. A
PySide6 without the bug is left untouched. Imported by :mod:`fetalviewer.ui`, so it is in force before
any widget exists.
"""

from __future__ import annotations

import ctypes
import sys

_PROBE_CALLS = 8
_installed: dict[str, int] = {}


def _incref():
    fn = ctypes.pythonapi.Py_IncRef
    fn.argtypes = [ctypes.py_object]
    fn.restype = None
    return fn


def _fix_signal_emit() -> int:
    from PySide6.QtCore import QObject, Signal, SignalInstance

    class _Probe(QObject):
        probe = Signal(int)

    obj = _Probe()
    obj.probe.connect(lambda _value: None)
    before = sys.getrefcount(True)
    for _ in range(_PROBE_CALLS):
        obj.probe.emit(1)
    lost = before - sys.getrefcount(True)
    if lost <= 0:
        return 0
    incref = _incref()
    for _ in range(lost):  # give back what the probe took
        incref(True)
    per_call = max(1, round(lost / _PROBE_CALLS))
    original = SignalInstance.emit

    def emit(self, *args):
        result = original(self, *args)
        if result is True:
            for _ in range(per_call):
                incref(True)
        return result

    emit.__doc__ = original.__doc__
    SignalInstance.emit = emit
    return per_call


def _fix_process_events() -> int:
    from PySide6.QtCore import QCoreApplication

    original = QCoreApplication.processEvents
    before = sys.getrefcount(None)
    for _ in range(_PROBE_CALLS):
        original()
    lost = before - sys.getrefcount(None)
    if lost <= 0:
        return 0
    incref = _incref()
    for _ in range(lost):
        incref(None)
    per_call = max(1, round(lost / _PROBE_CALLS))

    def process_events(*args, **kwargs):
        result = original(*args, **kwargs)
        if result is None:
            for _ in range(per_call):
                incref(None)
        return result

    QCoreApplication.processEvents = staticmethod(process_events)
    return per_call


def install() -> dict[str, int]:
    """Apply the fixes that this PySide6 needs (idempotent); returns {function: references per call}."""
    if not _installed:
        _installed["SignalInstance.emit"] = _fix_signal_emit()
        _installed["QCoreApplication.processEvents"] = _fix_process_events()
    return dict(_installed)
