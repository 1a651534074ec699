"""Workspace widgets: plane badge, plane timeline, findings, checklist, search, heat map.

Entry point for the main window: :func:`install_workspace`.
"""

from __future__ import annotations


def install_workspace(window, service=None):
    """Add the AI review workspace to ``window`` (see :mod:`fetalviewer.ui.workspace.install`)."""
    from fetalviewer.ui.workspace.install import install_workspace as _install

    return _install(window, service)


__all__ = ["install_workspace"]
