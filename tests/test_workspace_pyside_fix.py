"""The PySide6 reference-count workaround: signals and void Qt calls can no longer drain None / True."""

from __future__ import annotations

import sys

import fetalviewer.ui  # noqa: F401  (installs the fix)
from fetalviewer.ui import pyside_refcount_fix


def test_many_emits_and_void_calls_leave_the_singletons_alive(qapp):
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QLabel

    class Emitter(QObject):
        changed = Signal(object)

    received = []
    emitter = Emitter()
    emitter.changed.connect(received.append)
    label = QLabel()
    if pyside_refcount_fix.needed():
        assert pyside_refcount_fix.install() == {
            n: pyside_refcount_fix.EXTRA_REFERENCES for n in ("None", "True", "False")
        }
    # More calls than True (~600) or None (~25,000) had references in a fresh 3.11 interpreter: without the
    # fix this PySide6 aborts the interpreter here.
    for i in range(30000):
        emitter.changed.emit(i)
        label.setText("x")
    for _ in range(500):
        qapp.processEvents()
    assert len(received) == 30000
    if pyside_refcount_fix.needed():
        for obj in (None, True, False):
            assert sys.getrefcount(obj) > pyside_refcount_fix.EXTRA_REFERENCES // 2
