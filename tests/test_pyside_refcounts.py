"""Guard against the PySide6 release that mis-counts references to None/True (6.12.0 on CPython 3.11).

That release returns None from every void call (setText, update, processEvents, ...) and True from
``emit()`` without taking a reference, so the interpreter aborts ("bool_dealloc") after a few hundred
signals. pyproject.toml excludes it; this test fails if such a PySide6 is installed again.
"""

from __future__ import annotations

import sys


def test_signals_and_void_calls_keep_singleton_reference_counts(qapp):
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QLabel

    class Emitter(QObject):
        changed = Signal(object)

    received = []
    emitter = Emitter()
    emitter.changed.connect(received.append)
    label = QLabel()
    emitter.changed.emit(-1)  # warm-up: first calls may cache objects
    label.setText("warm")
    qapp.processEvents()
    before = {name: sys.getrefcount(obj) for name, obj in (("None", None), ("True", True))}
    for i in range(300):  # fewer than True's references in a fresh interpreter: a leak drifts, not aborts
        emitter.changed.emit(i)
        label.setText(str(i))
        qapp.processEvents()
    drift = {name: sys.getrefcount(obj) - before[name] for name, obj in (("None", None), ("True", True))}
    assert len(received) == 301
    assert all(abs(d) < 50 for d in drift.values()), f"reference counts drifted by {drift}"
