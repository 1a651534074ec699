"""The PySide6 reference-count workaround: signals and processEvents no longer drain True / None."""

from __future__ import annotations

import sys

import fetalviewer.ui  # noqa: F401  (installs the fix)
from fetalviewer.ui import pyside_refcount_fix


def test_emit_and_process_events_keep_true_and_none_alive(qapp):
    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        changed = Signal(object)
        count = Signal(int)

    received = []
    emitter = Emitter()
    emitter.changed.connect(received.append)
    emitter.count.connect(received.append)
    assert set(pyside_refcount_fix.install()) == {"SignalInstance.emit", "QCoreApplication.processEvents"}
    true_before, none_before = sys.getrefcount(True), sys.getrefcount(None)
    for i in range(3000):  # more than True's references in a fresh interpreter: would abort without the fix
        emitter.changed.emit(i)
        emitter.count.emit(i)
    for _ in range(1000):
        qapp.processEvents()
    assert len(received) == 6000
    assert abs(sys.getrefcount(True) - true_before) <= 20  # without the fix: -6000
    assert abs(sys.getrefcount(None) - none_before) <= 20  # without the fix: -1000
