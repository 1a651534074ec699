"""The window's study database and network features, wired explicitly by :class:`MainWindow`:

* the start page: the welcome actions beside the study list (double-click opens a study);
* Network menu: Study list, Query/Retrieve…, DICOM nodes…, Receive in the background (Storage SCP);
* every study the window opens is indexed in place (off the GUI thread);
* received studies show up in the list at once, with a status-bar notification.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSplitter

from fetalviewer.ui.net_task import NetTask
from fetalviewer.ui.study_list import StudyListPanel

log = logging.getLogger(__name__)


class NetworkController(QObject):
    received = Signal(str, str)  # StudyInstanceUID, archive path (emitted from the SCP's threads)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.server = None
        self._tasks: list[NetTask] = []
        self.query_dialog = None
        self.study_list = StudyListPanel()
        start = QSplitter(Qt.Vertical)  # the welcome actions above, the study list below
        stack = window.stack
        index = stack.indexOf(window.welcome)
        stack.removeWidget(window.welcome)
        start.addWidget(window.welcome)
        window.welcome.setVisible(True)  # the stack hid it when it was taken out
        start.addWidget(self.study_list)
        start.setStretchFactor(0, 0)
        start.setStretchFactor(1, 1)
        start.setSizes([380, 520])
        stack.insertWidget(index, start)
        stack.setCurrentIndex(index)
        self.start_page = start
        self.study_list.open_requested.connect(self.open_study)
        self.study_list.refresh_requested.connect(self.refresh)
        self.received.connect(self._on_received, Qt.QueuedConnection)
        window.loader.loaded.connect(self._on_loader_loaded)
        window.workspace.analysis_finished.connect(lambda _rid: self._mark_open_studies("analysed"))
        window.exporter.finished.connect(lambda _result: self._mark_open_studies("reported"))
        self._build_menu()
        self.refresh()

    # -- menu --------------------------------------------------------------------------------------
    def _build_menu(self) -> None:
        window = self.window
        menu = QMenu("&Network", window)
        window.menuBar().insertMenu(window.menus["help"].menuAction(), menu)
        window.menus["network"] = menu
        self.actions: dict[str, QAction] = {}
        for key, text, slot, shortcut in (
            ("study_list", "&Study list", self.show_study_list, "Ctrl+L"),
            ("query", "&Query / Retrieve…", self.show_query, "Ctrl+Shift+Q"),
            ("nodes", "DICOM &nodes…", self.show_nodes, None),
        ):
            action = QAction(text, self.window)
            if shortcut:
                action.setShortcut(shortcut)
            action.triggered.connect(slot)
            menu.addAction(action)
            window.addAction(action)  # the shortcut works anywhere in the window
            self.actions[key] = window.actions[f"network_{key}"] = action
        menu.addSeparator()
        receive = QAction("&Receive in the background (Storage SCP)", self.window)
        receive.setCheckable(True)
        receive.toggled.connect(self.set_receiving)
        menu.addAction(receive)
        self.actions["receive"] = window.actions["network_receive"] = receive

    # -- study list --------------------------------------------------------------------------------
    def refresh(self) -> None:
        from fetalviewer.studydb import open_study_db

        with open_study_db() as db:
            studies = db.list_studies()
            note = db.recovery_message or ""
        self.study_list.set_studies(studies, note)
        if note:
            self.window.statusBar().showMessage(note, 20000)

    def show_study_list(self) -> None:
        self.refresh()
        self.window.stack.setCurrentWidget(self.start_page)

    def open_study(self, study_uid: str) -> None:
        from fetalviewer.studydb import open_study_db

        with open_study_db() as db:
            paths = [p for p in db.instance_paths(study_uid) if p.exists()]
        if not paths:
            self.window.statusBar().showMessage(f"the files of study {study_uid} are no longer there", 10000)
            return
        self.window.open_paths(paths)

    def _on_loader_loaded(self, outcome) -> None:
        paths = [str(getattr(i, "path", "")) for i in outcome.instances if getattr(i, "path", None)]
        if paths:
            self._start(self._index_job(paths), lambda _: self.refresh())

    def _mark_open_studies(self, status: str) -> None:
        """Workflow status of the studies on screen (analysed after the AI review, reported after an export)."""
        from fetalviewer.studydb import STATUSES, open_study_db

        uids = {loop.study_instance_uid for loop in self.window.instances}
        with open_study_db() as db:  # never step a study back (a re-analysis after sending stays "sent")
            for uid in uids:
                record = db.get_study(uid, with_paths=False)
                if record is not None and STATUSES.index(record.status) < STATUSES.index(status):
                    db.set_status(uid, status)
        self.refresh()

    @staticmethod
    def _index_job(paths):
        def job(progress, cancel):
            from fetalviewer.studydb import open_study_db

            with open_study_db() as db:
                return db.index_paths(paths)

        return job

    # -- dialogs -----------------------------------------------------------------------------------
    def show_query(self) -> None:
        from fetalviewer.ui.query_dialog import QueryDialog

        if self.query_dialog is None:
            self.query_dialog = QueryDialog(self.window)
            self.query_dialog.retrieved.connect(lambda _: self.refresh())
        self.query_dialog.show()
        self.query_dialog.raise_()

    def show_nodes(self) -> None:
        from fetalviewer.ui.node_settings import NodeSettingsDialog

        NodeSettingsDialog(self.window).exec()

    # -- receiving ---------------------------------------------------------------------------------
    def set_receiving(self, on: bool) -> None:
        from fetalviewer.errors import FetalViewerError
        from fetalviewer.net.nodes import local_ae_from_settings
        from fetalviewer.net.scp import StorageServer
        from fetalviewer.studydb import open_study_db

        if not on:
            self.stop_receiving()
            return
        try:
            local = local_ae_from_settings()
            self._receive_db = open_study_db()
            self.server = StorageServer(local, self._receive_db, on_stored=self.received.emit).start()
        except (FetalViewerError, ValueError) as exc:
            self.window.statusBar().showMessage(f"Receiving not started: {exc}", 15000)
            self.actions["receive"].blockSignals(True)
            self.actions["receive"].setChecked(False)
            self.actions["receive"].blockSignals(False)
            return
        self.window.statusBar().showMessage(f"Receiving as {local.aet} on port {self.server.port}", 10000)

    def stop_receiving(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
            self._receive_db.close()

    def _on_received(self, study_uid: str, path: str) -> None:
        self.refresh()
        self.window.statusBar().showMessage(f"Received a new instance of study {study_uid}", 10000)

    # -- tasks -------------------------------------------------------------------------------------
    def _start(self, job, done) -> NetTask:
        task = NetTask(job, self)
        task.done.connect(done)
        task.failed.connect(lambda text: self.window.statusBar().showMessage(text, 10000))
        task.done.connect(lambda _: self._tasks.remove(task) if task in self._tasks else None)
        self._tasks.append(task)
        return task.start()

    def shutdown(self) -> None:
        """Stop receiving and wait for indexing jobs (called when the window closes)."""
        self.stop_receiving()
        for task in list(self._tasks):
            task.cancel()
            task.wait(5.0)
