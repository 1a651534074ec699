"""The workspace's widgets around the viewer: badge and heat map on the canvas, timeline, AI review dock.

:class:`WorkspaceView` builds the widgets and redraws them from the controller's state; it never runs model
code. Refreshes are cheap (arrays already computed on the worker); the heat map (only when the overlay is
on) is computed for the frame on screen on a background thread and kept per frame, so no GUI handler
does the upsampling (about 60 ms for a large frame).
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QFrame, QLabel, QScrollArea, QTabWidget, QVBoxLayout, QWidget

from fetalviewer.ui.workspace.badge import PlaneBadge
from fetalviewer.ui.workspace.colors import MODEL_OUTPUT_COLOR, display_name
from fetalviewer.ui.workspace.control_panel import WorkspaceControls
from fetalviewer.ui.workspace.controller import PLANE_KEYS, WorkspaceController, thumbnail_of
from fetalviewer.ui.workspace.findings_panel import FindingsPanel
from fetalviewer.ui.workspace.search_panel import SearchPanel
from fetalviewer.ui.workspace.timeline import PlaneTimeline
from fetalviewer.workspace.badge_text import badge_text

log = logging.getLogger(__name__)

HEAT_MAX_ALPHA = 150
#: Heat-map overlays kept per frame (RGBA in original pixels): revisiting a frame shows it at once.
HEAT_CACHE_BYTES = 64 * 1024 * 1024


def _heat_lut() -> np.ndarray:
    """256 x 3 uint8 colours (pyqtgraph's 'inferno')."""
    return pg.colormap.get("inferno").getLookupTable(0.0, 1.0, 256, alpha=False).astype(np.uint8)


class WorkspaceView(QObject):
    """Owns the workspace widgets; see the module docstring."""

    heatmap_shown = Signal()  # the heat map of the frame on screen is now drawn
    _heat_computed = Signal(object, object, object)  # key, rgba or None, error or None (from the pool thread)

    def __init__(self, controller: WorkspaceController, canvas=None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.canvas = canvas
        self.timeline = PlaneTimeline()
        self.timeline.set_planes(PLANE_KEYS)
        self.controls = WorkspaceControls(PLANE_KEYS)
        self.findings = FindingsPanel()
        self.search = SearchPanel()
        self.caption = QLabel(
            f"<span style='color:{MODEL_OUTPUT_COLOR}'>AI output (FetalCLIP zero-shot): decision support, "
            "not a measurement. Check every label.</span>"
        )
        self.caption.setWordWrap(True)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.findings, "Findings")
        self.tabs.addTab(self.search, "Search")
        self.tabs.setMinimumHeight(220)
        inner = QWidget()
        inner.setObjectName("aiReviewPanel")
        layout = QVBoxLayout(inner)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.caption)
        layout.addWidget(self.controls)
        layout.addWidget(self.tabs, 1)
        layout.addStretch(0)
        self.panel = QScrollArea()  # never clipped when the dock is short
        self.panel.setWidgetResizable(True)
        self.panel.setFrameShape(QFrame.NoFrame)
        self.panel.setWidget(inner)
        self.badge: PlaneBadge | None = None
        self.heat_item: pg.ImageItem | None = None
        self._lut = _heat_lut()
        self._heat_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._heat_cache_bytes = 0
        self._heat_wanted: tuple | None = None
        self._heat_running: tuple | None = None
        self._heat_next: tuple | None = None
        self._heat_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetalviewer-heatmap")
        self._heat_computed.connect(self._on_heat_computed)
        self._thumbs: dict[tuple[str, int], np.ndarray] = {}
        self._drawn_timeline: tuple | None = None
        self._findings_key: tuple | None = None
        self._full_pending = False
        self._full_timer = QTimer(self)
        self._full_timer.setSingleShot(True)
        self._full_timer.setInterval(150)
        self._full_timer.timeout.connect(self._on_full_timer_timeout)
        self._thumb_queue: list = []
        self._thumb_timer = QTimer(self)
        self._thumb_timer.setInterval(0)
        self._thumb_timer.timeout.connect(self._on_thumb_timer_timeout)
        if canvas is not None:
            self.attach_canvas(canvas)

        c = self.controller
        self.controls.threshold_spin.setValue(c.threshold_0_1)
        self.controls.auto_check.setChecked(c.auto_analyse)
        self.controls.analyse_clicked.connect(c.analyse)
        self.controls.model_chosen.connect(c.set_model_choice)
        self.controls.cancel_clicked.connect(c.cancel)
        self.controls.auto_analyse_toggled.connect(c.set_auto_analyse)
        self.controls.threshold_changed.connect(c.set_threshold)
        self.controls.heatmap_toggled.connect(self._on_controls_heatmap_toggled)
        self.controls.install_weights_clicked.connect(self._on_controls_install_weights_clicked)
        self.controls.accept_clicked.connect(self._on_controls_accept_clicked)
        self.controls.correct_clicked.connect(self._on_controls_correct_clicked)
        self.timeline.frame_clicked.connect(self._on_timeline_frame_clicked)
        self.findings.jump_requested.connect(c.jump_requested)
        self.search.jump_requested.connect(c.jump_requested)
        self.search.search_requested.connect(c.search)
        c.search_finished.connect(self._on_controller_search_finished)
        c.model_state_changed.connect(lambda _state: self.refresh(False))
        c.add_view(self.refresh)
        self.refresh(False)

    # ------------------------------------------------------------------------------ canvas
    def attach_canvas(self, canvas) -> None:
        self.canvas = canvas
        self.badge = PlaneBadge(canvas.graphics)
        self.heat_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item.setZValue(5)
        self.heat_item.setVisible(False)
        canvas.view.addItem(self.heat_item)
        canvas.graphics.installEventFilter(self)

    def eventFilter(self, watched, event):  # noqa: N802 (Qt override)
        if self.badge is not None and event.type() == QEvent.Resize:
            self.badge.place()
        return False

    # ------------------------------------------------------------------------------ refresh
    def refresh(self, current_only: bool = False) -> None:
        """Redraw. Frame changes redraw the badge/heat map at once; the rest is coalesced (one per 150 ms)."""
        if not current_only:
            self._full_pending = True
            if not self._full_timer.isActive():
                self._full_timer.start()
        self._refresh_timeline()
        self._refresh_badge()
        self._refresh_heatmap()

    def _on_full_timer_timeout(self) -> None:
        if self._full_pending:
            self._full_pending = False
            self._refresh_state()
            self._refresh_findings()
            self._refresh_timeline()
            self._refresh_badge()

    def flush(self) -> None:
        """Apply a pending coalesced refresh now (tests, screenshots)."""
        self._full_timer.stop()
        self._on_full_timer_timeout()

    def _refresh_state(self) -> None:
        c = self.controller
        label = c.model_label
        self.caption.setText(
            f"<span style='color:{MODEL_OUTPUT_COLOR}'>AI output ({label}): decision support, "
            "not a measurement. Check every label.</span>"
        )
        self.timeline.setToolTip(f"Plane probability per frame ({label}); click a frame to show it")
        self.controls.show_model_choice(c.model_choice)
        reason = c.unavailable_reason if c.model_state == "unavailable" else None
        self.controls.set_model_unavailable(reason)
        self.timeline.setVisible(reason is None or bool(c.results))
        self.tabs.setVisible(reason is None or bool(c.results))
        self.controls.set_running(c.running)
        analysed = sum(a.n_done for a in c.results.values())
        if reason is not None:
            self.search.set_enabled_reason("Search needs the model weights (FetalCLIP or MobileFetalCLIP).")
        elif analysed == 0:
            self.search.set_enabled_reason("Analyse the study to search its frames.")
        else:
            self.search.set_enabled_reason(None)
        total = sum(t.n_frames for t in c.targets)
        p = c.last_progress
        if c.model_state == "loading":
            self.controls.set_progress(
                0.0, "loading the model…", f"Loading the {c.model_label.split()[0]} weights (first use only)"
            )
        elif c.running and p is not None:
            self.controls.set_progress(p.fraction_0_1, f"{p.phase} · %p%", p.message)
        elif total:
            state = (
                "complete"
                if analysed == total
                else ("cancelled" if c.results and p is not None and p.phase == "cancelled" else "")
            )
            text = f"{analysed} of {total} frames analysed" + (f" · {state}" if state else "")
            self.controls.set_progress(
                analysed / total, text, p.message if p is not None and not c.running else ""
            )
        else:
            self.controls.set_progress(0.0, "no study", "")

    def _refresh_timeline(self) -> None:
        c = self.controller
        analysis = c.current_analysis()
        key = (c.current_uid, id(analysis))
        if key != self._drawn_timeline:
            self._drawn_timeline = key
            if analysis is None:
                loop = c.instance_by_uid(c.current_uid) if c.current_uid else None
                self.timeline.clear_data(int(loop.n_frames) if loop is not None else 0)
            else:
                self.timeline.set_probabilities(analysis.plane_probs, analysis.done, analysis.plane_keys)
        self.timeline.set_current_frame(c.current_frame)

    def _refresh_badge(self) -> None:
        if self.badge is None:
            return
        c = self.controller
        reading = c.current_reading()
        if reading is None:
            self.badge.show_text(None)
            self.controls.label_status.setText("")
            return
        target = next((t for t in c.targets if t.sop_instance_uid == c.current_uid), None)
        names = {k: display_name(k) for k in (*PLANE_KEYS, *(c.current_analysis().brain_keys))}
        user_label = c.user_label_of_current()
        content = badge_text(
            reading,
            c.threshold_0_1,
            names,
            shown_frame=c.current_frame,
            ga_unavailable_reason=target.ga_unavailable_reason if target else None,
            user_label=user_label,
            model_label=c.model_label,
        )
        self.badge.show_text(content, reading.plane_key)
        exact = reading.frame_index == c.current_frame
        self.controls.accept_button.setEnabled(exact)
        self.controls.correct_button.setEnabled(exact)
        self.controls.label_status.setText(
            f"Yours: {display_name(user_label)} (model: {display_name(reading.plane_key)})"
            if user_label
            else ("" if exact else "Labels can be set on analysed frames.")
        )

    def _refresh_findings(self) -> None:
        c = self.controller
        key = (tuple((uid, a.n_done, id(a)) for uid, a in c.results.items()), c.threshold_0_1, c.running)
        if key == self._findings_key:
            return
        self._findings_key = key
        _best, checklist = c.findings()
        self.findings.set_findings(checklist, c.threshold_0_1, c.instance_names(), self._thumbnail, c.model_label)

    def _thumbnail(self, best) -> np.ndarray | None:
        """A cached thumbnail, or None now and a later refresh once it is decoded.

        Decoding happens one frame per event-loop turn, and only when no analysis is running (best frames
        change at every batch while it runs), so no handler decodes several frames in a row.
        """
        key = (best.sop_instance_uid, best.frame_index)
        if key in self._thumbs:
            return self._thumbs[key]
        if not self.controller.running and key not in self._thumb_queue:
            self._thumb_queue.append(key)
            self._thumb_timer.start()
        return None

    def _on_thumb_timer_timeout(self) -> None:
        if not self._thumb_queue:
            self._thumb_timer.stop()
            self._findings_key = None
            self.refresh(False)
            return
        uid, frame = self._thumb_queue.pop(0)
        loop = self.controller.instance_by_uid(uid)
        if loop is None:
            return
        try:
            self._thumbs[(uid, frame)] = thumbnail_of(loop.frame(frame))
        except Exception:  # noqa: BLE001 - a frame that cannot be decoded has no thumbnail
            self._thumbs[(uid, frame)] = None

    def _wanted_heatmap(self):
        """(cache key, job arguments) of the heat map the frame on screen needs, or None (none to show)."""
        c = self.controller
        analysis = c.current_analysis()
        if not c.heatmap_on or analysis is None or not 0 <= c.current_frame < analysis.n_frames:
            return None
        if not analysis.done[c.current_frame]:
            return None
        loop = c.instance_by_uid(c.current_uid)
        maps = analysis.class_maps[c.current_frame]
        if loop is None or np.isnan(maps.astype(np.float32)).any():
            return None
        target = next((t for t in c.targets if t.sop_instance_uid == c.current_uid), None)
        box = tuple(target.crop_box_px) if target is not None and target.crop_box_px else None
        cls = int(np.argmax(analysis.plane_probs[c.current_frame]))
        rows, cols = int(loop.rows), int(loop.columns)
        digest = hashlib.blake2b(np.ascontiguousarray(maps).tobytes(), digest_size=12).hexdigest()
        key = (c.current_uid, int(c.current_frame), cls, rows, cols, box, digest)
        return key, (np.array(maps, copy=True), cls, rows, cols, box)

    def _refresh_heatmap(self) -> None:
        """Show the frame's heat map: from the per-frame cache at once, else computed off the GUI thread
        (hidden meanwhile: another frame's map is never shown over this one)."""
        if self.heat_item is None:
            return
        wanted = self._wanted_heatmap()
        self._heat_wanted = None if wanted is None else wanted[0]
        if wanted is None:
            self.heat_item.setVisible(False)
            return
        key, args = wanted
        rgba = self._heat_cache.get(key)
        if rgba is not None:
            self._heat_cache.move_to_end(key)
            self._show_heat(rgba)
            return
        self.heat_item.setVisible(False)
        if self._heat_running is None:
            self._start_heat_job(key, args)
        elif self._heat_running != key:
            self._heat_next = (key, args)  # only the latest request waits: no pile-up while playing

    def _start_heat_job(self, key, args) -> None:
        from fetalviewer.workspace.heatmap import heatmap_rgba

        self._heat_running = key
        future = self._heat_pool.submit(heatmap_rgba, *args, self._lut, HEAT_MAX_ALPHA)

        def done(f) -> None:  # on the pool's thread: hand over to the GUI thread through a queued signal
            try:
                rgba, error = f.result(), None
            except Exception as exc:  # noqa: BLE001 - a failed map is hidden, never fatal
                rgba, error = None, str(exc)
            try:
                self._heat_computed.emit(key, rgba, error)
            except RuntimeError:  # the view was deleted meanwhile
                pass

        future.add_done_callback(done)

    def _on_heat_computed(self, key, rgba, error) -> None:
        self._heat_running = None
        if error is not None:
            log.warning("heat map not shown: %s", error)
        elif rgba is not None:
            self._heat_cache[key] = rgba
            self._heat_cache_bytes += rgba.nbytes
            while self._heat_cache_bytes > HEAT_CACHE_BYTES and len(self._heat_cache) > 1:
                _old, evicted = self._heat_cache.popitem(last=False)
                self._heat_cache_bytes -= evicted.nbytes
            if key == self._heat_wanted:
                self._show_heat(rgba)
        pending, self._heat_next = self._heat_next, None
        if pending is not None and pending[0] == self._heat_wanted and pending[0] not in self._heat_cache:
            self._start_heat_job(*pending)

    def _show_heat(self, rgba: np.ndarray) -> None:
        self.heat_item.setImage(rgba, autoLevels=False, levels=(0, 255))
        self.heat_item.setVisible(True)
        self.heatmap_shown.emit()

    # ---------------------------------------------------------------------------- handlers
    def _on_timeline_frame_clicked(self, frame: int) -> None:
        if self.controller.current_uid:
            self.controller.jump_requested.emit(self.controller.current_uid, frame)

    def _on_controls_heatmap_toggled(self, on: bool) -> None:
        self.controller.heatmap_on = bool(on)
        self._refresh_heatmap()

    def _on_controls_accept_clicked(self) -> None:
        self.controller.record_label(None)
        self.refresh(True)

    def _on_controls_correct_clicked(self, plane_key: str) -> None:
        self.controller.record_label(plane_key)
        self.refresh(True)

    def _on_controller_search_finished(self, hits) -> None:
        n = sum(a.n_done for a in self.controller.results.values())
        self.search.show_hits(
            getattr(self.controller, "last_search_query", ""), hits, self.controller.instance_names(), n,
            self.controller.model_label,
        )

    def _on_controls_install_weights_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.panel,
            "FetalCLIP weights file",
            "",
            "PyTorch or safetensors weights (*.pt *.pth *.bin *.safetensors);;All files (*)",
        )
        if path:
            self.controller.install_weights(path)
