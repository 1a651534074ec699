"""The Qt user interface: the only package that imports PySide6, pyqtgraph and superqt."""

from fetalviewer.ui.pyside_refcount_fix import install as _install_pyside_refcount_fix

# Before any widget exists: this PySide6 leaks a reference of True/None per emit()/processEvents()
# and the interpreter aborts after a few hundred calls (see the module's docstring).
_install_pyside_refcount_fix()
