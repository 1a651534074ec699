"""The review window: study browser, image canvas with cine transport, metadata, measurements, problems.

:class:`MainWindow` builds every part itself, in one place (``__init__`` and the ``_build_*`` methods),
and connects them explicitly: the AI review workspace, automatic head biometry, the SR tab and the
export. A feature that needs a menu entry gets it through :meth:`MainWindow.add_action` (menus are kept
by key in ``self.menus``, never looked up by their label). Closing the window runs one hook,
:meth:`MainWindow.shutdown`, which stops each part's background work before the Qt objects die.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMenu,
    QMessageBox,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from fetalviewer import settings
from fetalviewer.analysis.frame_numbers import frame_label
from fetalviewer.logsetup import register_identifiers
from fetalviewer.paths import sample_study_dir
from fetalviewer.ui.calibration_view import display_calibration
from fetalviewer.ui.calipers import CaliperLayer
from fetalviewer.ui.canvas import CineCanvas
from fetalviewer.ui.cine_controls import CineControls
from fetalviewer.ui.frame_fetcher import FrameFetcher
from fetalviewer.ui.loader import LoadOutcome, StudyLoader
from fetalviewer.ui.measurement_controller import MeasurementController
from fetalviewer.ui.measurement_panel import MeasurementPanel
from fetalviewer.ui.metadata_panel import MetadataPanel, format_person_name
from fetalviewer.ui.net_controller import NetworkController
from fetalviewer.ui.player import CinePlayer
from fetalviewer.ui.problems_panel import ProblemsPanel
from fetalviewer.ui.shortcuts import SHORTCUTS, ShortcutHelpDialog
from fetalviewer.ui.study_browser import StudyBrowser
from fetalviewer.ui.welcome import WelcomePanel

log = logging.getLogger(__name__)


def sample_available() -> tuple[bool, str]:
    folder = sample_study_dir()
    if folder.is_dir() and any(folder.rglob("*.dcm")):
        return True, ""
    return False, f"The bundled sample study is missing ({folder})."


class MainWindow(QMainWindow):
    study_loaded = Signal(int)  # number of instances opened
    frame_displayed = Signal(int)  # frame index now on the canvas
    _unexpected_error = Signal(str, str)  # (summary, report path): marshals crash reports to the GUI thread

    def __init__(self) -> None:
        super().__init__()
        self._unexpected_error.connect(self._on_unexpected_error, Qt.ConnectionType.QueuedConnection)
        self.crash_dialog: QMessageBox | None = None
        self.setWindowTitle("FetalViewer")
        self.setAcceptDrops(True)
        self.resize(1500, 920)
        self.instances: list = []
        self.current_loop = None
        self.validate_dialog = None  # Help > Validate installation..., made on first use
        self._current_index: int | None = None
        self.weights_path: str | None = None  # --weights for this session (read by the workspace)
        self.persist_layout = False  # run_app turns it on: size and docks kept between sessions

        self.canvas = CineCanvas()
        self.controls = CineControls()
        self.player = CinePlayer(self)
        self.layer = CaliperLayer(self.canvas, self)
        self.browser = StudyBrowser()
        self.metadata = MetadataPanel()
        self.measurement_panel = MeasurementPanel()
        self.problems = ProblemsPanel()
        self.measurements = MeasurementController(self.layer, self.measurement_panel, self)
        self.loader = StudyLoader(self)
        self.fetcher = FrameFetcher(self)
        self._fetch_floor = 0
        self.shown_index: int | None = None
        ok, reason = sample_available()
        self.welcome = WelcomePanel(ok, reason)

        viewer = QWidget()
        vl = QVBoxLayout(viewer)
        vl.setContentsMargins(0, 0, 0, 0)
        vl.setSpacing(0)
        vl.addWidget(self.canvas, 1)
        vl.addWidget(self.controls)
        self._viewer_layout = vl
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(viewer)
        self.setCentralWidget(self.stack)
        self._build_docks()
        self.actions: dict[str, QAction] = {}
        self.menus: dict[str, QMenu] = {}
        self._build_actions()
        self._build_menus_and_toolbar()
        self._connect()
        self._refresh_recent()
        # The features, in order: each may use the ones built before it.
        self.workspace = self._build_workspace()  # AI review (FetalCLIP or MobileFetalCLIP)
        self.biometry = self._build_biometry()  # automatic head biometry
        self.sr_panel = self._build_sr_panel()  # SR tab: a structured report beside the app's values
        self.exporter = self._build_export()  # File > Export…
        self._build_batch()  # File > Batch analysis...
        self.network = NetworkController(self)  # study list on the start page, Network menu, receiving
        self._shut_down = False
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self.statusBar().showMessage("Ready")

    # -- construction ----------------------------------------------------------------------------

    def _dock(self, title: str, widget: QWidget, area, name: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable
                         | QDockWidget.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        self.browser_dock = self._dock("Study", self.browser, Qt.LeftDockWidgetArea, "study")
        self.browser.setMinimumWidth(250)
        self.right_tabs_min_width = 440
        self.right_tabs = QTabWidget()
        self.right_tabs.addTab(self.measurement_panel, "Measurements")
        self.right_tabs.addTab(self.metadata, "Metadata")
        self.right_tabs.setMinimumWidth(self.right_tabs_min_width)
        self.info_dock = self._dock("Exam", self.right_tabs, Qt.RightDockWidgetArea, "exam")
        self.problems_dock = self._dock("Problems", self.problems, Qt.BottomDockWidgetArea, "problems")
        self.problems_dock.hide()
        self.resizeDocks([self.browser_dock, self.info_dock], [270, 470], Qt.Horizontal)
        self.resizeDocks([self.problems_dock], [110], Qt.Vertical)

    def _build_actions(self) -> None:
        handlers = {
            "play_pause": self.player.toggle,
            "step_back": lambda: self.player.step(-1),
            "step_forward": lambda: self.player.step(1),
            "step_back_10": lambda: self.player.step(-10),
            "step_forward_10": lambda: self.player.step(10),
            "first_frame": self.player.first,
            "last_frame": self.player.last,
            "previous_instance": lambda: self.select_instance((self._current_index or 0) - 1),
            "next_instance": lambda: self.select_instance((self._current_index or 0) + 1),
            "faster": self.player.faster,
            "slower": self.player.slower,
            "distance": lambda: self._start_tool("distance"),
            "ellipse": lambda: self._start_tool("ellipse"),
            "cancel_tool": self.layer.cancel_tool,
            "delete_measurement": self.measurements.delete_selected,
            "fit": self.canvas.fit,
            "zoom_in": lambda: self.canvas.zoom(1.25),
            "zoom_out": lambda: self.canvas.zoom(0.8),
            "reset_wl": self.canvas.reset_window_level,
            "set_wl": self.ask_window_level,
            "toggle_regions": lambda: self.canvas.set_regions_visible(not self.canvas.regions_visible),
            "open_files": self.open_files_dialog,
            "open_folder": self.open_folder_dialog,
            "open_dicomdir": self.open_dicomdir_dialog,
            "help": self.show_help,
            "quit": self.close,
        }
        for name, keys, text in SHORTCUTS:
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.WindowShortcut)
            action.triggered.connect(handlers[name])
            self.addAction(action)
            self.actions[name] = action
        self.actions["toggle_regions"].setCheckable(True)
        self.actions["toggle_regions"].setChecked(True)
        self.actions["toggle_regions"].triggered.disconnect()
        self.actions["toggle_regions"].toggled.connect(self.canvas.set_regions_visible)
        for name in ("distance", "ellipse"):
            self.actions[name].setCheckable(True)
        self.actions["open_sample"] = QAction("Open the bundled sample study", self)
        self.actions["open_sample"].triggered.connect(self.open_sample)
        self.actions["validate"] = QAction("Validate installation...", self)
        self.actions["validate"].triggered.connect(self.show_validate_dialog)

    def _build_menus_and_toolbar(self) -> None:
        a = self.actions
        menu = self.menuBar()
        file_menu = self.menus["file"] = menu.addMenu("&File")
        for name in ("open_files", "open_folder", "open_dicomdir", "open_sample"):
            file_menu.addAction(a[name])
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])
        view_menu = self.menus["view"] = menu.addMenu("&View")
        for name in ("fit", "zoom_in", "zoom_out", "reset_wl", "set_wl", "toggle_regions"):
            view_menu.addAction(a[name])
        view_menu.addSeparator()
        for dock in (self.browser_dock, self.info_dock, self.problems_dock):
            view_menu.addAction(dock.toggleViewAction())
        cine_menu = self.menus["cine"] = menu.addMenu("&Cine")
        for name in ("play_pause", "step_back", "step_forward", "step_back_10", "step_forward_10",
                     "first_frame", "last_frame", "faster", "slower", "previous_instance", "next_instance"):
            cine_menu.addAction(a[name])
        measure_menu = self.menus["measure"] = menu.addMenu("&Measure")
        for name in ("distance", "ellipse", "cancel_tool", "delete_measurement"):
            measure_menu.addAction(a[name])
        help_menu = self.menus["help"] = menu.addMenu("&Help")
        help_menu.addAction(a["help"])
        help_menu.addAction(a["validate"])

        bar = self.toolbar = self.addToolBar("Main")
        bar.setObjectName("main_toolbar")
        bar.setMovable(False)
        for name, text in (("open_files", "Open"), ("open_folder", "Folder"),
                           ("open_dicomdir", "DICOMDIR"), (None, None),
                           ("distance", "Distance (D)"), ("ellipse", "Ellipse (E)"),
                           ("delete_measurement", "Delete"), (None, None), ("fit", "Fit (F)"),
                           ("reset_wl", "Reset W/L"), ("toggle_regions", "Regions"), (None, None),
                           ("help", "Shortcuts (F1)")):
            if name is None:
                bar.addSeparator()
                continue
            button_action = a[name]
            bar.addAction(button_action)
            bar.widgetForAction(button_action).setText(text)
            bar.widgetForAction(button_action).setFocusPolicy(Qt.NoFocus)

    def add_action(
        self, name: str, action: QAction, *, menu: str, before: str | None = None, toolbar_text: str | None = None
    ) -> QAction:
        """Register ``action`` as ``self.actions[name]`` and put it in ``self.menus[menu]`` (before the
        action named ``before``, with a separator, else at the end after one) and, with ``toolbar_text``, on
        the toolbar. Its shortcut works anywhere in the window. E.g. ``add_action("export", act, menu="file",
        before="quit", toolbar_text="Export")``."""
        if name in self.actions:
            raise ValueError(f"an action named {name!r} exists already")
        target = self.menus[menu]
        self.addAction(action)
        if before is not None:
            anchor = self.actions[before]
            target.insertAction(anchor, action)
            target.insertSeparator(anchor)
        else:
            target.addSeparator()
            target.addAction(action)
        if toolbar_text is not None:
            self.toolbar.addSeparator()
            self.toolbar.addAction(action)
            button = self.toolbar.widgetForAction(action)
            button.setText(toolbar_text)
            button.setFocusPolicy(Qt.NoFocus)
        self.actions[name] = action
        return action

    # -- features ----------------------------------------------------------------------------------

    def _build_workspace(self):
        """The AI review: plane badge and heat map on the canvas, the plane timeline under the cine
        controls, and the "AI review" dock under the exam tabs."""
        from fetalviewer.ui.workspace.controller import WorkspaceController
        from fetalviewer.ui.workspace.view import WorkspaceView

        controller = WorkspaceController(
            self, exam_record_provider=self.measurements.record_for_study,
            weights_path_provider=lambda: self.weights_path,
        )  # fmt: skip
        view = WorkspaceView(controller, self.canvas, controller)
        controller.view = view
        self._viewer_layout.insertWidget(self._viewer_layout.indexOf(self.controls) + 1, view.timeline)
        self.ai_review_dock = self._dock("AI review", view.panel, Qt.RightDockWidgetArea, "ai_review")
        self.splitDockWidget(self.info_dock, self.ai_review_dock, Qt.Vertical)
        self.resizeDocks([self.info_dock, self.ai_review_dock], [300, 560], Qt.Vertical)
        self.study_loaded.connect(lambda _n: controller.set_study(list(self.instances)))
        self.study_loaded.connect(self._sync_workspace_current)
        self.player.frame_changed.connect(self._sync_workspace_current)
        controller.jump_requested.connect(self._on_workspace_jump_requested)
        return controller

    def _sync_workspace_current(self, *_args) -> None:
        loop = self.current_loop
        self.workspace.set_current(loop.sop_instance_uid if loop is not None else None, self.player.index)

    def _on_workspace_jump_requested(self, sop_uid: str, frame_index: int) -> None:
        self._on_measurements_jump_requested(sop_uid, frame_index)
        self._sync_workspace_current()

    def _build_biometry(self):
        """Automatic head biometry: the overlay, the "Biometry" tab and Measure > Measure head (H)."""
        from fetalviewer.ui.biometry_controller import BiometryController
        from fetalviewer.ui.biometry_panel import BiometryPanel
        from fetalviewer.ui.head_overlay import HeadOverlay

        panel = BiometryPanel()
        self.right_tabs.insertTab(1, panel, "Biometry")
        controller = BiometryController(self, HeadOverlay(self.canvas.view), panel, self.workspace)
        action = QAction("Measure head (automatic)", self)
        action.setShortcut(QKeySequence("H"))
        action.setToolTip("Segment the skull on the frame on screen, fit the ellipse, measure HC/BPD/OFD (H)")
        action.triggered.connect(controller.measure_current)
        controller.busy_changed.connect(lambda busy: action.setEnabled(not busy))
        controller.status.connect(lambda text: self.statusBar().showMessage(text, 10000))
        controller.action = self.add_action("measure_head", action, menu="measure", toolbar_text="Measure head")
        return controller

    def _build_sr_panel(self):
        from fetalviewer.ui.sr_panel import SrController, SrPanel

        panel = SrPanel()
        self.right_tabs.addTab(panel, "SR")
        return SrController(self, panel)

    def _build_export(self):
        """File > Export… (Ctrl+E): the export dialog, made on first use (``self.export_dialog``)."""
        from fetalviewer.ui.export_controller import ExportController

        controller = ExportController(self)
        action = QAction("Export…", self)
        action.setShortcut(QKeySequence("Ctrl+E"))
        action.setToolTip("Export the exam: PDF report, DICOM SR, secondary captures, MP4, PNG, CSV/JSON (Ctrl+E)")
        action.triggered.connect(self.open_export_dialog)
        controller.action = self.add_action("export", action, menu="file", before="quit", toolbar_text="Export")
        self.export_dialog = None
        return controller

    def _build_batch(self) -> None:
        """File > Batch analysis...: ``fetalviewer batch`` in a dialog (``self.batch_dialog``, made on first use)."""
        action = QAction("Batch analysis...", self)
        action.setToolTip("Analyse every frame of many studies into tables and a summary page (fetalviewer batch)")
        action.triggered.connect(self.show_batch_dialog)
        self.add_action("batch", action, menu="file", before="quit")
        self.batch_dialog = None

    def show_batch_dialog(self) -> None:
        from fetalviewer.ui.batch_dialog import BatchDialog

        if self.batch_dialog is None:
            self.batch_dialog = BatchDialog(self, weights=self.weights_path)
        self.batch_dialog.show()
        self.batch_dialog.raise_()

    def open_export_dialog(self) -> None:
        from fetalviewer.ui.export_dialog import ExportDialog

        if self.export_dialog is None:
            self.export_dialog = ExportDialog(self, self.exporter)
        self.export_dialog.refresh_from_window()
        self.export_dialog.show()
        self.export_dialog.raise_()
        self.export_dialog.activateWindow()

    def _connect(self) -> None:
        self.loader.loaded.connect(self._on_loader_loaded)
        self.loader.thumbnail_ready.connect(self._on_loader_thumbnail_ready)
        self.fetcher.ready.connect(self._on_fetcher_ready)
        self.loader.failed.connect(self._on_loader_failed)
        self.browser.instance_selected.connect(self._on_browser_instance_selected)
        self.player.frame_changed.connect(self._on_player_frame_changed)
        self.player.playing_changed.connect(self.controls.show_playing)
        self.player.speed_changed.connect(self._on_player_speed_changed)
        self.controls.step_requested.connect(self.player.step)
        self.controls.first_requested.connect(self.player.first)
        self.controls.last_requested.connect(self.player.last)
        self.controls.play_toggled.connect(self.player.toggle)
        self.controls.seek_requested.connect(self.player.seek)
        self.controls.speed_requested.connect(self.player.set_speed)
        self.canvas.window_level_changed.connect(self._on_canvas_window_level_changed)
        self.layer.tool_changed.connect(self._on_layer_tool_changed)
        self.measurements.jump_requested.connect(self._on_measurements_jump_requested)
        self.measurements.status.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.welcome.sample_requested.connect(self.open_sample)
        self.welcome.open_files_requested.connect(self.open_files_dialog)
        self.welcome.open_folder_requested.connect(self.open_folder_dialog)
        self.welcome.open_dicomdir_requested.connect(self.open_dicomdir_dialog)
        self.welcome.recent_requested.connect(lambda p: self.open_paths([p]))

    # -- opening ---------------------------------------------------------------------------------

    def open_paths(self, paths) -> int:
        """Open files, folders or a DICOMDIR off the GUI thread; returns the request id."""
        paths = [str(p) for p in paths]
        if not paths:
            return 0
        self.statusBar().showMessage(f"Loading {len(paths)} item(s)…")
        log.info("opening %d path(s)", len(paths))
        for p in paths:
            settings.add_recent_file(p)
        self._refresh_recent()
        return self.loader.load(paths)

    def open_sample(self) -> None:
        ok, reason = sample_available()
        if not ok:
            self.statusBar().showMessage(reason, 10000)
            return
        self.open_paths([sample_study_dir()])

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open DICOM files", "", "DICOM (*.dcm *.DCM *);;All files (*)")
        if files:
            self.open_paths(files)

    def open_dicomdir_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a DICOMDIR", "", "DICOMDIR (DICOMDIR dicomdir);;All files (*)")
        if path:
            self.open_paths([path])

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of DICOM files")
        if folder:
            self.open_paths([folder])

    def _refresh_recent(self) -> None:
        recent = list(settings.load_settings().get("recent_files", []))
        self.recent_menu.clear()
        for path in recent:
            act = self.recent_menu.addAction(path)
            act.triggered.connect(lambda _=False, p=path: self.open_paths([p]))
        self.recent_menu.setEnabled(bool(recent))
        self.welcome.set_recent(recent)

    def _on_loader_loaded(self, outcome: LoadOutcome) -> None:
        self.player.clear()
        for loop in self.instances:
            loop.close()
        self.instances = list(outcome.instances)
        for loop in self.instances:
            h = loop.header
            register_identifiers(getattr(h, "patient_name", None), getattr(h, "patient_id", None))
        self.problems.clear_problems()
        for path, message in outcome.problems:
            self.problems.add_problem(path, message)
        for problem in self.measurements.set_instances(self.instances):
            self.problems.add_problem("", problem)
        self.browser.set_instances(self.instances, outcome.thumbnails)
        n_bad = len(outcome.problems)
        self.problems_dock.setVisible(self.problems.count() > 0)
        msg = f"Opened {len(self.instances)} instance(s)"
        if n_bad:
            msg += f"; {n_bad} problem(s) — see the Problems panel"
        if outcome.skipped:
            msg += f"; {len(outcome.skipped)} non-DICOM file(s) skipped"
        self.statusBar().showMessage(msg, 15000)
        log.info("opened %d instance(s), %d problem(s)", len(self.instances), n_bad)
        self._current_index = None
        if self.instances:
            self.stack.setCurrentIndex(1)
            self.select_instance(0)
        else:
            self.current_loop = None
            self.canvas.clear()
        self.study_loaded.emit(len(self.instances))

    def _on_loader_thumbnail_ready(self, sop_uid: str, thumbnail, error: str) -> None:
        if thumbnail is not None:
            self.browser.set_thumbnail(sop_uid, thumbnail)
            return
        loop = next((i for i in self.instances if i.sop_instance_uid == sop_uid), None)
        self.problems.add_problem(str(loop.path) if loop is not None else "", error)
        self.problems_dock.show()

    def _on_loader_failed(self, message: str) -> None:
        self.problems.add_problem("", f"The study could not be opened: {message}")
        self.problems_dock.show()
        self.statusBar().showMessage("The study could not be opened — see the Problems panel", 15000)
        self.study_loaded.emit(len(self.instances))

    # -- instances and frames --------------------------------------------------------------------

    def select_instance(self, index: int) -> None:
        if not self.instances:
            return
        index = min(max(int(index), 0), len(self.instances) - 1)
        if index == self._current_index:
            return
        self.browser.select_instance(index)
        if self._current_index != index:  # the browser was already there: show it directly
            self._show_instance(index)

    def _on_browser_instance_selected(self, index: int) -> None:
        if index != self._current_index:
            self._show_instance(index)

    def _show_instance(self, index: int) -> None:
        self.layer.cancel_tool()
        self._current_index = index
        loop = self.instances[index]
        self.current_loop = loop
        self.canvas.set_instance(loop)
        self.metadata.show_instance(loop)
        self.controls.set_enabled_for(loop.n_frames)
        t = loop.timing
        mode = ""
        if loop.n_frames > 1 and t is not None:
            mode = f"{t.fps:.0f} fps ({t.source}) · {t.sequencing}"
        self.controls.show_mode(mode)
        self._update_static_overlays(loop)
        self.player.set_loop(loop)

    def _update_static_overlays(self, loop) -> None:
        h = loop.header
        top_left = "  ·  ".join(s for s in (
            format_person_name(getattr(h, "patient_name", "")),
            " ".join(s for s in (str(getattr(h, "manufacturer", "") or ""),
                                 str(getattr(h, "model_name", "") or "")) if s),
            str(getattr(h, "series_description", "") or getattr(h, "study_description", "") or ""),
        ) if s.strip())
        cal = display_calibration(loop.regions)
        if cal is not None:
            bottom_right = (f"{cal[0]:.4f} mm/px" if abs(cal[0] - cal[1]) < 1e-12
                            else f"{cal[0]:.4f} × {cal[1]:.4f} mm/px") + " (US region)"
        elif loop.regions:
            bottom_right = "no single calibrated 2D region: measurements per region"
        else:
            bottom_right = "uncalibrated (no US regions)"
        self.canvas.set_overlay_text(top_left=top_left, bottom_right=bottom_right)
        self._on_canvas_window_level_changed(*self.canvas.window_level)

    def _on_player_frame_changed(self, index: int) -> None:
        loop = self.current_loop
        if loop is None:
            return
        is_cached = getattr(loop, "is_cached", None)
        if self.player.is_playing and is_cached is not None and not is_cached(index):
            # Never decode on the GUI thread while playing: the frame is shown when it is ready,
            # unless a later frame got there first (then it is dropped: true time is kept).
            self.fetcher.request(loop, index)
            return
        self._fetch_floor = self.fetcher.latest_request + 1  # pending fetches are older now
        try:
            frame, error = loop.frame(index), ""
        except Exception as exc:  # noqa: BLE001 - any decoder failure is shown, playback continues
            frame, error = None, str(exc) or type(exc).__name__
        self._display(loop, index, frame, error)

    def _on_fetcher_ready(self, request_id: int, loop, index: int, frame, error: str) -> None:
        if loop is not self.current_loop or request_id < self._fetch_floor:
            return
        self._fetch_floor = request_id + 1
        self._display(loop, index, frame, error)

    def _display(self, loop, index: int, frame, error: str) -> None:
        """Put frame ``index`` (or its decoding error) on the canvas and update everything tied to it."""
        if error:
            self.canvas.show_message(f"{frame_label(index, loop.n_frames).capitalize()} could not be decoded:\n{error}")
            if self.problems.add_problem(str(loop.path), f"{frame_label(index, loop.n_frames)}: {error}"):
                log.warning("frame %d of %s not decoded", index, Path(str(loop.path)).name)
            self.problems_dock.show()
        else:
            self.canvas.show_frame(frame)
        self.shown_index = index
        n = loop.n_frames
        t_ms = self.player.time_ms(index)
        self.controls.show_position(index, n, t_ms)
        fps = f"{loop.timing.fps:.0f} fps" if n > 1 and loop.timing and loop.timing.fps else ""
        self.canvas.set_overlay_text(
            top_right="  ·  ".join(s for s in (frame_label(index, n).capitalize(), f"{t_ms:.1f} ms", fps) if s)
        )
        self.measurements.show_frame(loop, index)
        self.frame_displayed.emit(index)

    def _on_player_speed_changed(self, speed: float) -> None:
        self.controls.show_speed(speed)
        self.statusBar().showMessage(f"Speed {speed:g}×", 3000)

    def _on_canvas_window_level_changed(self, center: float, width: float) -> None:
        text = "RGB" if self.canvas.is_color else f"W {width:.0f}  L {center:.0f}"
        self.canvas.set_overlay_text(bottom_left=text)

    def _on_measurements_jump_requested(self, sop_uid: str, frame_index: int) -> None:
        for i, loop in enumerate(self.instances):
            if loop.sop_instance_uid == sop_uid:
                self.select_instance(i)
                self.player.pause()
                self.player.seek(frame_index)
                return

    # -- tools -----------------------------------------------------------------------------------

    def _start_tool(self, kind: str) -> None:
        if self.current_loop is None:
            self.actions[kind].setChecked(False)
            return
        self.player.pause()
        self.layer.start_tool(kind)
        steps = "click the two end points" if kind == "distance" else \
            "click both ends of one axis, then a point on the other axis"
        self.statusBar().showMessage(f"{kind.capitalize()}: {steps} (Esc cancels)")

    def _on_layer_tool_changed(self, kind: str) -> None:
        for name in ("distance", "ellipse"):
            self.actions[name].setChecked(name == kind)

    def report_unexpected_error(self, summary: str, report_path) -> None:
        """Crash-handler callback, from any thread: the GUI thread shows it (see _on_unexpected_error)."""
        self._unexpected_error.emit(summary, str(report_path))

    def _on_unexpected_error(self, summary: str, report_path: str) -> None:
        """List the error, and tell the user in a dialog where the crash report is; measurements are safe
        (each one is saved to the exam record when it is made)."""
        self.crash_dialog = QMessageBox(
            QMessageBox.Icon.Critical,
            "FetalViewer: unexpected error",
            f"FetalViewer hit an unexpected error:\n{summary}\n\nA report was written to:\n{report_path}\n\n"
            "Your measurements are saved. Please send the report to your support contact.",
            QMessageBox.StandardButton.Ok,
            self,
        )
        self.crash_dialog.setModal(False)
        self.crash_dialog.show()
        self.problems.add_problem(str(report_path), f"unexpected error: {summary} (report: {report_path})")
        self.problems_dock.show()
        self.statusBar().showMessage(f"Unexpected error — report written to {report_path}", 15000)

    def show_validate_dialog(self) -> None:
        """Help > Validate installation...: the site acceptance test (one dialog, kept while open)."""
        from fetalviewer.ui.validate_dialog import ValidateDialog

        if self.validate_dialog is None:
            self.validate_dialog = ValidateDialog(self, weights=self.weights_path)
        self.validate_dialog.show()
        self.validate_dialog.raise_()

    def ask_window_level(self) -> None:
        """W: numeric window/level for a grayscale frame (colour frames are shown as stored)."""
        if self.canvas.is_color:
            self.statusBar().showMessage("Window/level applies to grayscale images only", 5000)
            return
        from fetalviewer.ui.window_level_dialog import WindowLevelDialog

        center, width = self.canvas.window_level
        self.wl_dialog = WindowLevelDialog(center, width, self)
        self.wl_dialog.accepted.connect(lambda: self.canvas.set_window_level(*self.wl_dialog.values()))
        self.wl_dialog.open()

    def show_help(self) -> None:
        dialog = ShortcutHelpDialog(self)
        dialog.setModal(False)
        dialog.show()
        self._help_dialog = dialog

    # -- drag and drop, shutdown -----------------------------------------------------------------

    def dragEnterEvent(self, event):  # noqa: N802 (Qt override)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):  # noqa: N802 (Qt override)
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.open_paths(paths))

    def save_layout(self) -> None:
        """Keep the window's size and dock layout in the settings for the next start."""
        geometry = bytes(self.saveGeometry().toBase64()).decode("ascii")
        state = bytes(self.saveState().toBase64()).decode("ascii")
        try:
            settings.update_settings(window_geometry=geometry, window_state=state)
        except OSError as exc:
            log.warning("window layout not saved: %s", exc)

    def restore_layout(self) -> bool:
        """Restore what :meth:`save_layout` kept (True when something was restored)."""
        stored = settings.load_settings()
        geometry, state = stored.get("window_geometry"), stored.get("window_state")
        if not isinstance(geometry, str) or not isinstance(state, str):
            return False
        ok = self.restoreGeometry(QByteArray.fromBase64(geometry.encode("ascii")))
        return self.restoreState(QByteArray.fromBase64(state.encode("ascii"))) and ok

    def shutdown(self) -> None:
        """The one close hook: stop every part's background work (model, head runs, exports, frame
        decoding) and close the open files. Runs once, on close or when the application quits."""
        if self._shut_down:
            return
        self._shut_down = True
        self.workspace.shutdown()
        self.biometry.shutdown()
        self.sr_panel.shutdown()
        self.exporter.shutdown()
        self.player.clear()
        self.fetcher.shutdown()
        self.network.shutdown()
        for loop in self.instances:
            loop.close()

    def closeEvent(self, event):  # noqa: N802 (Qt override)
        if self.persist_layout:
            self.save_layout()
        self.shutdown()
        super().closeEvent(event)
