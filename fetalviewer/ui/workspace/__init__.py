"""Workspace widgets: plane badge, plane timeline, findings, checklist, search, heat map.

:class:`~fetalviewer.ui.workspace.controller.WorkspaceController` holds the AI review's state;
:class:`~fetalviewer.ui.workspace.view.WorkspaceView` its widgets. The main window builds both
(``MainWindow._build_workspace``).
"""
