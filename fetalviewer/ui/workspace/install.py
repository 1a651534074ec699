"""``install_workspace(window)``: add the AI review workspace to the main window with one call.

What it adds: the plane badge and the heat-map layer on the canvas, the plane timeline under the cine
controls, and an "AI review" dock (analyse/cancel with progress, options, findings and checklist, search,
plane labels, the no-weights notice). What it uses from the window: ``canvas``, ``controls`` (the
timeline goes right under them), ``player`` (``frame_changed``, ``seek``, ``pause``), ``instances``,
``current_loop``, ``select_instance(i)``, the ``study_loaded`` signal, ``weights_path`` (``--weights``)
and the measurement controller's in-memory exam records (so labels and measurements share one record).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QDockWidget

from fetalviewer.ui.workspace.controller import WorkspaceController
from fetalviewer.ui.workspace.view import WorkspaceView


def _exam_record_from_window(window):
    def provider(study_uid: str):
        measurements = getattr(window, "measurements", None)
        lookup = getattr(measurements, "record_for_study", None)
        return lookup(study_uid) if callable(lookup) else None

    return provider


def install_workspace(window, service=None) -> WorkspaceController:
    """Build the workspace into ``window``; returns the controller (also ``window.workspace``)."""
    controller = WorkspaceController(
        window,
        service=service if service is not None else getattr(window, "inference_service", None),
        exam_record_provider=_exam_record_from_window(window),
        weights_path_provider=lambda: getattr(window, "weights_path", None),
    )
    view = WorkspaceView(controller, window.canvas, controller)
    controller.view = view

    # timeline right under the cine controls (the scrubber)
    holder = window.controls.parentWidget()
    layout = holder.layout() if holder is not None else None
    if layout is not None:
        layout.insertWidget(layout.indexOf(window.controls) + 1, view.timeline)
    else:  # pragma: no cover - the window always has the controls in a layout
        window.addDockWidget(Qt.BottomDockWidgetArea, QDockWidget("Plane timeline", window))

    dock = QDockWidget("AI review", window)
    dock.setObjectName("ai_review")
    dock.setWidget(view.panel)
    dock.setFeatures(
        QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable | QDockWidget.DockWidgetClosable
    )
    window.addDockWidget(Qt.RightDockWidgetArea, dock)
    info_dock = getattr(window, "info_dock", None)
    if info_dock is not None:
        window.splitDockWidget(info_dock, dock, Qt.Vertical)
        window.resizeDocks([info_dock, dock], [300, 560], Qt.Vertical)
    window.ai_review_dock = dock

    def on_study_loaded(_n: int) -> None:
        controller.set_study(list(getattr(window, "instances", [])))
        sync_current()

    def sync_current(*_args) -> None:
        loop = getattr(window, "current_loop", None)
        controller.set_current(loop.sop_instance_uid if loop is not None else None, window.player.index)

    def on_jump(uid: str, frame: int) -> None:
        for i, loop in enumerate(getattr(window, "instances", [])):
            if loop.sop_instance_uid == uid:
                window.select_instance(i)
                window.player.pause()
                window.player.seek(frame)
                sync_current()
                return

    window.study_loaded.connect(on_study_loaded)
    window.player.frame_changed.connect(sync_current)
    controller.jump_requested.connect(on_jump)
    app_about_to_quit(window, controller)
    window.workspace = controller
    return controller


class _CloseWatcher(QObject):
    """Stops the model work when the window closes (before its Qt objects die)."""

    def __init__(self, window, controller: WorkspaceController) -> None:
        super().__init__(window)
        self._controller = controller
        window.installEventFilter(self)

    def eventFilter(self, watched, event):  # noqa: N802 (Qt override)
        if event.type() == QEvent.Close:
            self._controller.shutdown()
        return False


def app_about_to_quit(window, controller: WorkspaceController) -> None:
    """Stop the model work when the window closes or the application quits."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(controller.shutdown)
    window._workspace_close_watcher = _CloseWatcher(window, controller)
