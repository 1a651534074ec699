"""Automatic head biometry in the window: the head model off the GUI thread, results into the exam record.

``Measure head (automatic)`` captures an immutable :class:`HeadRequest` (instance, frame, request id);
a superqt worker runs :func:`run_head_segmentation` (decode; segmentation by a trained FetalCLIP seg
head when one fits the loaded FetalCLIP weights, else by the default head model, on the frame cropped
to its single 2D tissue region, mask pasted back into original pixels; ellipse fit) and the
result comes back on the GUI thread, where a stale one (another request started since) is dropped.
A fitted head becomes three automatic measurements of the exam record (HC ellipse, BPD and OFD
distances: :func:`fetalviewer.analysis.biometry.head_measurements`), drawn and edited by the caliper
layer like any caliper; editing turns them into "edited" ones that keep their automatic values
(``edit_measurement``). When the HC ellipse is edited, the BPD/OFD calipers that still sit on its axes
follow it. The contour and a values box are drawn by :class:`~fetalviewer.ui.head_overlay.HeadOverlay`;
the study's table, GA, EFW, discordance and CHD section by
:class:`~fetalviewer.ui.biometry_panel.BiometryPanel`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from fetalviewer.analysis.frame_numbers import frame_label
from fetalviewer.settings import load_settings, update_settings
from fetalviewer.ui.head_overlay import head_value_lines

log = logging.getLogger(__name__)

HEAD_LABELS = ("HC", "BPD", "OFD")
AUTO_SETTING = "auto_head_biometry"
AUTO_DELAY_MS = 250
FOLLOW_TOLERANCE_PX = 0.75


@dataclass(frozen=True)
class HeadRequest:
    """One frame to measure; ``loop`` is the CineLoop (its frame() is safe from a worker thread)."""

    request_id: int
    sop_instance_uid: str
    frame_index: int
    loop: Any = field(repr=False, compare=False)
    loaded_backbone: Any = field(default=None, repr=False, compare=False)  # FetalCLIP LoadedModel or None
    #: ``run_on_model(fn)``: ``fn(loaded)`` run on the thread that owns the FetalCLIP model (the inference
    #: service's worker), its result returned; without it no FetalCLIP seg head runs (default head only)
    run_on_model: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.request_id, int) or self.request_id < 1:
            raise ValueError(f"request_id must be an int >= 1, got {self.request_id!r}")
        if not isinstance(self.frame_index, int) or self.frame_index < 0:
            raise ValueError(f"frame_index must be an int >= 0, got {self.frame_index!r}")


@dataclass(frozen=True)
class HeadResult:
    """What the worker found: an :class:`~fetalviewer.analysis.geometry.EllipseFit` or an error."""

    request_id: int
    sop_instance_uid: str
    frame_index: int
    fit: Any = None
    model: str = ""
    confidence_0_1: float | None = None
    error: str | None = None
    seconds: float = 0.0
    #: which segmentation ran: "fetalclip-seg-head" or "default-head" ("" when none ran)
    source: str = ""

    @property
    def segmenter_text(self) -> str:
        """The segmentation model that produced this result, in words for the status bar."""
        if self.source == "fetalclip-seg-head":
            return f"FetalCLIP seg head {self.model.split(':', 1)[-1].split(' ', 1)[0]}".strip()
        return "default head model" if self.source else "no head model"


def run_head_segmentation(request: HeadRequest) -> HeadResult:
    """Worker-thread body (Qt-free): decode, segment (default head), fit the ellipse."""
    from fetalviewer.analysis.frame_biometry import fit_head_mask
    from fetalviewer.dicom.calibration import single_tissue_region
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.model.heads.default_head import segment_head

    t0 = time.perf_counter()
    base = dict(request_id=request.request_id, sop_instance_uid=request.sop_instance_uid,
                frame_index=request.frame_index)
    try:
        frame = request.loop.frame(request.frame_index)
        region = single_tissue_region(tuple(request.loop.regions or ()))
        seg = _fetalclip_seg(request.loaded_backbone, frame, region, request.run_on_model)
        if seg is None:
            seg = segment_head(frame, region)
    except (FetalViewerError, ValueError, OSError) as exc:
        return HeadResult(**base, error=str(exc), seconds=time.perf_counter() - t0)
    fit = fit_head_mask(seg.mask, seg.crop_box)
    return HeadResult(**base, fit=fit, model=f"{seg.model_name} {seg.model_version}",
                      confidence_0_1=seg.confidence_0_1, seconds=time.perf_counter() - t0,
                      source=getattr(seg, "source", "default-head"))


_SEG_HEADS: dict[str, Any] = {}


def _fetalclip_seg(loaded, frame, region, run_on_model=None):
    """A trained FetalCLIP seg head's segmentation when one fits the loaded backbone, else None.

    The head runs the FetalCLIP backbone, so it runs through ``run_on_model`` on the model's own worker
    thread (the inference service owns the model; this function runs on a superqt worker, which only
    waits). Heads trained for another backbone are refused by ``find_head`` (WeightsMismatch naming the
    file); a head that fails at run time falls back to the default head model (logged).
    """
    if loaded is None or run_on_model is None:
        return None
    from concurrent.futures import CancelledError

    from fetalviewer.errors import FetalViewerError
    from fetalviewer.model.heads.backbone import BackboneSpec
    from fetalviewer.model.heads.headfile import find_head
    from fetalviewer.model.heads.runtime import SegHead

    try:
        spec = BackboneSpec.from_loaded(loaded)
        choice = find_head("seg", spec)
        if choice.path is None:
            return None
        key = f"{choice.path}|{spec.describe()}"
        if key not in _SEG_HEADS:
            _SEG_HEADS[key] = SegHead(choice.path, spec)
        head = _SEG_HEADS[key]
        return run_on_model(lambda model: head.segment(model, frame, region))
    except (FetalViewerError, ValueError, RuntimeError, KeyError, AttributeError, TimeoutError,
            CancelledError) as exc:
        log.warning("FetalCLIP seg head not used (%s); default head model instead", exc)
        return None


#: Longest wait of the head worker for the model thread (it may be finishing an analysis batch).
MODEL_CALL_TIMEOUT_S = 600.0


def _model_runner(service):
    """``run_on_model(fn)`` for a :class:`~fetalviewer.model.service.InferenceService`: ``fn(engine.loaded)``
    runs on the service's worker thread (the model's owner); the calling (superqt) thread only waits."""
    if service is None or not hasattr(service, "call"):
        return None

    def run_on_model(fn):
        return service.call(lambda engine: fn(engine.loaded)).result(timeout=MODEL_CALL_TIMEOUT_S)

    return run_on_model


@dataclass
class _FrameHead:
    """What the window keeps of one frame's automatic run (the measurements live in the exam record)."""

    contour_px: list | None
    refused_reason: str | None
    model: str


class BiometryController(QObject):
    finished = Signal(object)  # HeadResult, after the window has been updated
    busy_changed = Signal(bool)
    status = Signal(str)
    values_changed = Signal()  # overlay and panel show new values

    def __init__(self, window, overlay, panel, workspace) -> None:
        """``window``: the MainWindow (frame on screen, player, caliper layer, measurements);
        ``workspace``: the AI review controller (model GA, CHD embeddings, the loaded model)."""
        super().__init__(window)
        self.window = window
        self.workspace = workspace
        self.mc = window.measurements
        self.overlay = overlay
        self.panel = panel
        self._request_id = 0
        self._worker = None
        self._busy = False
        self._closing = False
        self._heads: dict[tuple[str, int], _FrameHead] = {}
        self._known_hc: dict[str, tuple] = {}
        self._syncing = False
        self._preview: tuple[str, dict] | None = None
        self._panel_uid: str | None = None
        self.auto = bool(load_settings().get(AUTO_SETTING, False))
        self._auto_timer = QTimer(self)
        self._auto_timer.setSingleShot(True)
        self._auto_timer.timeout.connect(self._on_auto_timer_timeout)
        window.frame_displayed.connect(self._on_window_frame_displayed)
        window.study_loaded.connect(self._on_window_study_loaded)
        self.mc.changed.connect(self._on_measurements_changed)
        window.layer.preview.connect(self._on_layer_preview)
        window.layer.edited.connect(self._on_layer_edited)
        panel.measure_requested.connect(self.measure_current)
        workspace.results_changed.connect(self.refresh_panel)  # model GA and CHD come from the AI review
        panel.auto_toggled.connect(self.set_auto)
        panel.set_auto(self.auto)

    # -- running --------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._busy

    def measure_current(self) -> int:
        """Measure the head on the frame on screen (off the GUI thread); returns the request id or 0."""
        loop, index = self.window.current_loop, self.window.shown_index
        if loop is None or index is None:
            self.status.emit("Open an image first: automatic head biometry measures the frame on screen")
            return 0
        self.window.player.pause()
        self._request_id += 1
        worker = self.workspace.worker
        loaded = worker.backend.loaded if worker.backend is not None else None  # None until the model loaded
        request = HeadRequest(self._request_id, loop.sop_instance_uid, int(index), loop,
                              loaded, _model_runner(worker.service))
        from superqt.utils import create_worker

        worker = create_worker(run_head_segmentation, request, _start_thread=False)
        worker.returned.connect(self._on_worker_returned)
        worker.errored.connect(lambda exc, r=request: self._on_worker_returned(
            HeadResult(r.request_id, r.sop_instance_uid, r.frame_index, error=f"{type(exc).__name__}: {exc}")))
        self._worker = worker
        self._set_busy(True)
        # which head runs (a FetalCLIP seg head or the default head model) is known when it is done
        self.status.emit(f"Measuring the head on {frame_label(index, loop.n_frames)}…")
        worker.start()
        return request.request_id

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.panel.set_busy(busy)
            self.busy_changed.emit(busy)

    def _on_worker_returned(self, result: HeadResult) -> None:
        if self._closing:
            return
        if result.request_id != self._request_id:
            return  # stale: a newer request was started
        self._set_busy(False)
        self._worker = None
        loop = self._loop_of(result.sop_instance_uid)
        if loop is None:
            return
        key = (result.sop_instance_uid, result.frame_index)
        if result.error:
            self._heads[key] = _FrameHead(None, f"head model not run: {result.error}", result.model)
            self.status.emit(f"Automatic head biometry unavailable: {result.error}")
        elif result.fit.ellipse is None:
            contour = result.fit.contour_px.tolist() if len(result.fit.contour_px) else None
            self._heads[key] = _FrameHead(contour, f"no measurement: {result.fit.reason}", result.model)
            self.status.emit(f"No head measurement ({result.segmenter_text}): {result.fit.reason}")
        else:
            self._heads[key] = _FrameHead(result.fit.contour_px.tolist(), None, result.model)
            self._store_head(loop, result)
        self.refresh()
        if self.auto:  # the user may have moved to another frame while this one was measured
            self._auto_timer.start(AUTO_DELAY_MS)
        self.finished.emit(result)

    def _store_head(self, loop, result: HeadResult) -> None:
        from fetalviewer.analysis.biometry import head_biometry_in_regions, head_measurements

        regions = tuple(loop.regions or ())
        bio = head_biometry_in_regions(result.fit.ellipse, regions)
        new = head_measurements(bio, result.sop_instance_uid, result.frame_index, regions)
        if self.mc.record_for_instance(result.sop_instance_uid) is None:
            self.status.emit("measurement kept for this session only: the instance has no StudyInstanceUID")
        # a new run replaces this frame's earlier automatic/edited head (one save, one refresh)
        replaced = [m.measurement_id for m in self.head_measurements(result.sop_instance_uid,
                                                                      result.frame_index).values()]
        self._known_hc[new[0].measurement_id] = _geometry_key(new[0])
        hc = new[0]
        text = hc.display_text()
        if not hc.is_calibrated:
            text += f" — no mm, no GA: {hc.uncalibrated_reason}"
        self.mc.put_many(new, remove_ids=replaced)
        self.status.emit(f"Automatic head biometry ({result.segmenter_text}): {text} ({result.seconds:.1f} s)")

    # -- automatic mode -------------------------------------------------------------------------

    def set_auto(self, on: bool) -> None:
        self.auto = bool(on)
        update_settings(**{AUTO_SETTING: self.auto})
        self.panel.set_auto(self.auto)
        if self.auto:
            self._on_window_frame_displayed(self.window.shown_index or 0)

    def _on_window_frame_displayed(self, index: int) -> None:
        self._preview = None
        self.refresh_overlay()  # cheap: done on every frame, also while playing
        loop = self.window.current_loop
        uid = None if loop is None else loop.sop_instance_uid
        if uid != self._panel_uid:  # the panel depends on the instance (CHD, model GA), not the frame
            self.refresh_panel()
        if self.auto and not self.window.player.is_playing:
            self._auto_timer.start(AUTO_DELAY_MS)

    def _on_window_study_loaded(self, _n: int) -> None:
        self._request_id += 1  # a result of the previous study is stale now
        self._set_busy(False)
        self._heads.clear()
        self._known_hc.clear()
        self._preview = None
        self.refresh()

    def _on_auto_timer_timeout(self) -> None:
        loop, index = self.window.current_loop, self.window.shown_index
        if loop is None or index is None or self._busy or self.window.player.is_playing:
            return
        key = (loop.sop_instance_uid, index)
        if key in self._heads or self.head_measurements(*key):
            return
        reading = self.model_reading(*key)
        if reading is not None and reading.plane_key != "brain":
            return  # the model says this is not a head frame
        self.measure_current()

    # -- queries ---------------------------------------------------------------------------------

    def _loop_of(self, sop_uid: str):
        return next((lp for lp in self.window.instances if lp.sop_instance_uid == sop_uid), None)

    def head_measurements(self, sop_uid: str, frame_index: int) -> dict[str, Any]:
        """This frame's automatic (or edited automatic) HC/BPD/OFD measurements by label."""
        out: dict[str, Any] = {}
        for m in self.mc.measurements():
            if (m.sop_instance_uid, m.frame_index) == (sop_uid, frame_index) and m.label in HEAD_LABELS \
                    and m.source.from_algorithm and m.label not in out:
                out[m.label] = m
        return out

    @property
    def current_loop(self):
        """The instance on screen (None when nothing is open)."""
        return self.window.current_loop

    @property
    def instances(self) -> list:
        """The open study's instances, in browser order."""
        return list(self.window.instances)

    def model_reading(self, sop_uid: str, frame_index: int):
        """The AI review's reading of a frame (plane, GA) or None when not analysed / no workspace."""
        analysis = self.workspace.results.get(sop_uid)
        if analysis is None:
            return None
        try:
            return analysis.frame_reading(frame_index)
        except ValueError:
            return None

    def model_ga(self, sop_uid: str | None, frame_index: int | None) -> tuple[float | None, str]:
        """(model GA in days, where it comes from or why there is none) for a head frame."""
        if sop_uid is None or frame_index is None:
            return None, "no automatic head measurement yet"
        reading = self.model_reading(sop_uid, frame_index)
        if reading is None:
            return None, "this frame has no FetalCLIP reading (load the weights and run the AI review)"
        if reading.ga_days is None:
            return None, "FetalCLIP gave no GA for this frame (not read as a brain plane)"
        return float(reading.ga_days), f"FetalCLIP GA of {frame_label(frame_index)}"

    # -- edits -----------------------------------------------------------------------------------

    def _on_layer_preview(self, measurement_id: str, geometry: dict) -> None:
        m = self.mc.measurement(measurement_id)
        if m is not None and m.kind == "ellipse" and m.label == "HC" and m.source.from_algorithm:
            self._preview = (measurement_id, dict(geometry))
            self.refresh_overlay()

    def _on_layer_edited(self, measurement_id: str, geometry: dict) -> None:
        self._preview = None
        QTimer.singleShot(0, self._sync_followers)  # after the ROI's own signal has returned

    def _on_measurements_changed(self) -> None:
        if not self._syncing:
            QTimer.singleShot(0, self._sync_followers)
        self.refresh()

    def _sync_followers(self) -> None:
        """Move the BPD/OFD calipers that sit on an edited HC ellipse's axes onto its new axes."""
        from fetalviewer.analysis.biometry import head_biometry
        from fetalviewer.analysis.geometry import Ellipse
        from fetalviewer.analysis.measurement import edit_measurement

        if self._syncing or self._closing:
            return
        moved = []
        self._syncing = True
        try:
            for m in self.mc.measurements():
                if m.kind != "ellipse" or m.label != "HC" or not m.source.from_algorithm:
                    continue
                key = _geometry_key(m)
                old = self._known_hc.get(m.measurement_id)
                self._known_hc[m.measurement_id] = key
                if old is None or old == key:
                    continue
                loop = self._loop_of(m.sop_instance_uid)
                if loop is None:
                    continue
                old_axes = _axes(Ellipse(old[0], old[1], old[2]))
                bio = head_biometry(Ellipse(m.center_px, m.semi_axes_px, m.angle_deg), m.calibration)
                new_axes = {"BPD": bio.bpd_endpoints_px, "OFD": bio.ofd_endpoints_px}
                for label, d in self.head_measurements(m.sop_instance_uid, m.frame_index).items():
                    if d.kind != "distance" or not _same_segment(d.points_px, old_axes[label]):
                        continue
                    moved.append(edit_measurement(d, tuple(loop.regions or ()), points_px=new_axes[label]))
            if moved:
                self.mc.put_many(moved)
        finally:
            self._syncing = False
        if moved:
            self.refresh()

    # -- views -----------------------------------------------------------------------------------

    def refresh(self) -> None:
        self.refresh_overlay()
        self.refresh_panel()

    def refresh_panel(self) -> None:
        loop = self.window.current_loop
        self._panel_uid = None if loop is None else loop.sop_instance_uid
        self.panel.show_summary(self.summary())
        self.values_changed.emit()

    def refresh_overlay(self) -> None:
        from fetalviewer.analysis.biometry import head_biometry
        from fetalviewer.analysis.geometry import Ellipse

        loop, index = self.window.current_loop, self.window.shown_index
        if loop is None or index is None:
            self.overlay.clear()
            return
        key = (loop.sop_instance_uid, index)
        head = self._heads.get(key)
        ms = self.head_measurements(*key)
        hc = ms.get("HC")
        if hc is None:
            if head is None:
                self.overlay.clear()
                return
            self.overlay.show_contour(head.contour_px, refused=True)
            self.overlay.show_text(["Head biometry (automatic)", head.refused_reason or ""], _corner_anchor(loop),
                                  refused=True)
            return
        geometry = {"center_px": hc.center_px, "semi_axes_px": hc.semi_axes_px, "angle_deg": hc.angle_deg}
        source = hc.source
        if self._preview is not None and self._preview[0] == hc.measurement_id:
            geometry, source = self._preview[1], "edited"
        try:
            ellipse = Ellipse(geometry["center_px"], geometry["semi_axes_px"], geometry["angle_deg"])
        except ValueError:
            return
        bio = head_biometry(ellipse, hc.calibration, hc.uncalibrated_reason)
        following = self._preview is not None and self._preview[0] == hc.measurement_id
        lines = head_value_lines(bio, None if following else ms.get("BPD"), None if following else ms.get("OFD"),
                                 source=source, model=head.model.split(" ")[0] if head else "")
        if hc.source == "edited" and hc.automatic_values and hc.automatic_values.get("value_mm"):
            lines.append(f"automatic HC was {hc.automatic_values['value_mm']:.1f} mm")
        self.overlay.show_contour(head.contour_px if head else None)
        self.overlay.show_text(lines, _corner_anchor(loop))
        self._place_axis_labels(ms)

    def _place_axis_labels(self, ms: dict) -> None:
        """Put the BPD label at the lower end of its caliper so it does not cover the HC label."""
        bpd = ms.get("BPD")
        if bpd is None:
            return
        (x1, y1), (x2, y2) = bpd.points_px
        x, y = (x1, y1) if y1 >= y2 else (x2, y2)
        self.window.layer.move_label(bpd.measurement_id, x + 4, y + 4, anchor=(0, 0))

    def summary(self):
        from fetalviewer.ui.biometry_panel import build_summary

        return build_summary(self)

    def shutdown(self) -> None:
        self._closing = True
        self._auto_timer.stop()


def _geometry_key(m) -> tuple:
    return (tuple(m.center_px), tuple(m.semi_axes_px), float(m.angle_deg))


def _axes(ellipse) -> dict[str, tuple]:
    major, minor = ellipse.axis_endpoints()
    return {"OFD": major, "BPD": minor}


def _same_segment(points, segment) -> bool:
    (a1, a2), (b1, b2) = points, segment

    def close(p, q) -> bool:
        return math.hypot(p[0] - q[0], p[1] - q[1]) <= FOLLOW_TOLERANCE_PX

    return (close(a1, b1) and close(a2, b2)) or (close(a1, b2) and close(a2, b1))


def _corner_anchor(loop) -> tuple[float, float]:
    """Where the values box's bottom-left corner goes: the bottom-left corner of the 2D tissue region
    (like a scanner's results box), or of the image when there is no single tissue region."""
    from fetalviewer.dicom.calibration import single_tissue_region

    region = single_tissue_region(tuple(getattr(loop, "regions", ()) or ()))
    if region is None:
        return 6.0, float(getattr(loop, "rows", 0) or 0) - 6.0
    return float(region.x0) + 6.0, float(region.y1) - 6.0
