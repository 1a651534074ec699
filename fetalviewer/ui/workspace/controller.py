"""The review workspace controller: connects the study on screen, the model worker and the widgets.

GUI-thread only. The window tells it which study is open (:meth:`set_study`) and which instance/frame is on
screen (:meth:`set_current`); it asks the window to navigate through :attr:`jump_requested`. Model work
runs on :class:`~fetalviewer.ui.workspace.worker.ModelWorker`; results arrive as signals and are dropped
when their request id is not the current one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from fetalviewer.model.planes import PLANE_CLASSES
from fetalviewer.settings import load_settings, update_settings
from fetalviewer.ui.workspace.worker import ModelWorker
from fetalviewer.workspace.findings import best_frames, exam_checklist
from fetalviewer.workspace.results import InstanceAnalysis
from fetalviewer.workspace.search import search_frames

log = logging.getLogger(__name__)

#: Frames per cine in the first pass (the whole timeline gets values first): fewer on a CPU, where one
#: ViT-L/14 frame costs 6-10 s on two cores.
FIRST_PASS_FRAMES_CPU = 6
FIRST_PASS_FRAMES_GPU = 24

PLANE_KEYS = PLANE_CLASSES  # the reference class order, one place (model/planes.py)


def thumbnail_of(frame: np.ndarray, max_px: int = 96) -> np.ndarray:
    """A small copy of a frame (nearest-neighbour decimation; thumbnails only)."""
    step = max(1, int(np.ceil(max(frame.shape[:2]) / max_px)))
    return np.ascontiguousarray(frame[::step, ::step])


class WorkspaceController(QObject):
    """State of the AI review for the open study (see the module docstring)."""

    jump_requested = Signal(str, int)  # sop instance uid, frame index
    results_changed = Signal()  # any new results (timeline, findings, badge updated)
    analysis_finished = Signal(int)  # request id
    cache_checked = Signal(int)  # number of instances found in the cache
    search_finished = Signal(object)  # list[SearchHit]
    model_state_changed = Signal(str)  # "unavailable" | "loading" | "ready"
    labels_changed = Signal()  # the user accepted or corrected a plane label

    def __init__(
        self,
        parent: QObject | None = None,
        weights_path: str | None = None,
        config_path: str | None = None,
        service=None,
        exam_record_provider: Callable[[str], object] | None = None,
        weights_path_provider: Callable[[], str | None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.worker = ModelWorker(service, weights_path, config_path, self)
        self._weights_path = weights_path
        self._config_path = config_path
        self.exam_record_provider = exam_record_provider
        self.weights_path_provider = weights_path_provider
        self.model_state = "unloaded"
        self.unavailable_reason: str | None = None
        self.instances: list = []
        self.targets: list = []
        self.results: dict[str, InstanceAnalysis] = {}
        self.study_uid: str | None = None
        self.current_uid: str | None = None
        self.current_frame = 0
        self.request_id = 0
        self.running = False
        self.last_progress = None
        self.last_search: list = []
        self.last_search_query = ""
        self._search_id = 0
        self._pending_analysis = False
        self._pending_search: str | None = None
        self._own_record = None
        settings = load_settings()
        self.threshold_0_1 = float(settings.get("uncertain_threshold_0_1", 0.5))
        self.auto_analyse = bool(settings.get("auto_analyze", False))
        self.heatmap_on = False
        self._views: list[Callable[[bool], None]] = []  # refresh callbacks of the widgets
        self.worker.model_ready.connect(self._on_worker_model_ready)
        self.worker.model_failed.connect(self._on_worker_model_failed)
        self.worker.analysis_update.connect(self._on_worker_analysis_update)
        self.worker.analysis_progress.connect(self._on_worker_analysis_progress)
        self.worker.analysis_finished.connect(self._on_worker_analysis_finished)
        self.worker.analysis_failed.connect(self._on_worker_analysis_failed)
        self.worker.search_done.connect(self._on_worker_search_done)
        self.worker.search_failed.connect(self._on_worker_search_failed)
        self.worker.cache_found.connect(self._on_worker_cache_found)
        self.check_weights()

    # ------------------------------------------------------------------------------- model
    def check_weights(self) -> str | None:
        """Find the weights (no loading, no hashing, no torch: ``auto`` between two installed models is
        decided by device on the thread that loads); returns the reason when there are none."""
        from fetalviewer.errors import WeightsMismatch, WeightsNotFound
        from fetalviewer.model.weights import candidate_weights

        if self.weights_path_provider is not None and self._weights_path is None:
            given = self.weights_path_provider()
            if given:
                self._weights_path = str(given)
                self.worker.use_weights(self._weights_path, self._config_path)
        try:
            candidate_weights(self._weights_path, self.worker.model)
        except (WeightsNotFound, WeightsMismatch) as exc:
            self.unavailable_reason = str(exc)
            self.model_state = "unavailable"
            return self.unavailable_reason
        if self.model_state == "unavailable":
            self.model_state = "unloaded"
        self.unavailable_reason = None
        return None

    def ensure_model(self) -> bool:
        """Start loading the model if needed; True when it is ready now."""
        if self.model_state == "ready":
            return True
        if self.model_state == "loading":
            return False
        if self.check_weights() is not None:
            self.model_state_changed.emit("unavailable")
            self._refresh()
            return False
        self.model_state = "loading"
        self.model_state_changed.emit("loading")
        self.worker.load_model()
        return False

    def _on_worker_model_ready(self, backend) -> None:
        self.model_state = "ready"
        self.unavailable_reason = None
        self.model_state_changed.emit("ready")
        if self._pending_analysis:
            self._pending_analysis = False
            self.running = False
            self.analyse()
        if self._pending_search:
            text, self._pending_search = self._pending_search, None
            self.search(text)

    def _on_worker_model_failed(self, message: str) -> None:
        self.model_state = "unavailable"
        self.unavailable_reason = message
        self._pending_analysis = False
        self._pending_search = None
        self.running = False
        self.model_state_changed.emit("unavailable")
        self._refresh()

    def set_weights(self, weights_path: str | None, config_path: str | None = None) -> None:
        """Use other weights from now on (after an install); the next analysis loads them."""
        self._weights_path, self._config_path = weights_path, config_path
        self.worker.use_weights(weights_path, config_path)
        self.model_state = "unloaded"
        self.check_weights()
        self.model_state_changed.emit(self.model_state)
        self._refresh()

    @property
    def model_choice(self) -> str:
        """``auto``, ``fetalclip`` or ``mobilefetalclip`` (the AI panel's choice, kept in the settings)."""
        return self.worker.model

    def set_model_choice(self, choice: str) -> None:
        """Run another model from now on: results on screen are dropped (never mixed) and the chosen
        model's cached results of the study are shown; the next analysis loads that model."""
        from fetalviewer.model.weights import set_model_choice

        if choice == self.worker.model:
            return
        set_model_choice(choice)
        self.worker.use_weights(self._weights_path, self._config_path, choice)
        self.model_state = "unloaded"
        self.model_state_changed.emit(self.model_state)
        if self.instances:
            self.set_study(self.instances)
        else:
            self.check_weights()
            self._refresh()

    @property
    def model_info(self):
        """ModelInfo of the model whose values are on screen (loaded, or identified from the cache), or None."""
        loaded = getattr(self.worker.backend, "loaded", None)
        return getattr(loaded, "info", None) or self.worker.cached_model_info

    @property
    def model_label(self) -> str:
        """How the values on screen are labelled, e.g. "MobileFetalCLIP zero-shot"."""
        from fetalviewer.model.families import FAMILIES

        info = self.model_info
        if info is not None:
            return info.output_label
        fam = FAMILIES.get(self.worker.model)
        return f"{fam.name} zero-shot" if fam else "zero-shot model"

    # ------------------------------------------------------------------------------- study
    def set_study(self, instances: list) -> None:
        """A new study is on screen: drop old results, show cached ones, analyse if the user wants it."""
        from fetalviewer.workspace.study_analysis import target_from_cine

        self.cancel()
        self.running = False
        self.last_progress = None
        self._own_record = None
        self.request_id += 1
        self.instances = list(instances)
        self.targets = []
        for loop in self.instances:
            try:
                self.targets.append(target_from_cine(loop))
            except (ValueError, AttributeError) as exc:
                log.warning("instance %s cannot be analysed: %s", getattr(loop, "path", "?"), exc)
        self.results = {}
        self.last_search = []
        self.study_uid = self.instances[0].study_instance_uid if self.instances else None
        self.current_uid = self.instances[0].sop_instance_uid if self.instances else None
        self.current_frame = 0
        self._refresh()
        if not self.targets:
            return
        if self.check_weights() is not None:
            self._refresh()
        else:
            # cached results first (no model needed); auto-analyse continues once the cache is read
            self._check_cache()

    def _check_cache(self) -> None:
        """Show cached results of the study without loading the model."""
        self.worker.read_cache(self.request_id, list(self.targets))

    def _on_worker_cache_found(self, request_id: int, found: dict) -> None:
        if request_id != self.request_id:
            return
        for uid, analysis in found.items():
            self.results.setdefault(uid, analysis)
        self._refresh()
        if found:
            self.results_changed.emit()
        self.cache_checked.emit(len(found))
        complete = all(
            uid in self.results and self.results[uid].is_complete
            for uid in (t.sop_instance_uid for t in self.targets)
        )
        if self.auto_analyse and not complete:
            self.analyse()

    def analyse(self) -> None:
        """The 'Analyse study' action."""
        if not self.targets or self.running:
            return
        if not self.ensure_model():
            if self.model_state == "loading":
                self._pending_analysis = True
                self.running = True
                self._refresh()
            return
        self._start_job()

    def _start_job(self) -> None:
        from fetalviewer.workspace.cache import AnalysisCache
        from fetalviewer.workspace.study_analysis import StudyAnalysis

        self.request_id += 1
        # One frame per step on a CPU (~6 s per frame for ViT-L/14): cancel, a search or closing the
        # window waits one frame at most; larger batches where the model runs on a GPU.
        device = str(getattr(getattr(self.worker.backend, "loaded", None), "device", "cpu"))
        on_cpu = device.startswith("cpu")
        job = StudyAnalysis(
            self.request_id,
            self.targets,
            self.worker.backend,
            AnalysisCache(),
            batch_size=1 if on_cpu else 16,
            first_pass_frames=FIRST_PASS_FRAMES_CPU if on_cpu else FIRST_PASS_FRAMES_GPU,
        )
        self.running = True
        self.last_progress = None
        self.worker.start_analysis(job)
        self._refresh()

    def cancel(self) -> None:
        self._pending_analysis = False
        self.worker.cancel()

    # ------------------------------------------------------------------------- worker results
    def _on_worker_analysis_update(self, update) -> None:
        if update.request_id != self.request_id:
            return
        self.results[update.sop_instance_uid] = update.analysis
        self._refresh()
        self.results_changed.emit()

    def _on_worker_analysis_progress(self, progress) -> None:
        if progress.request_id != self.request_id:
            return
        self.last_progress = progress
        self._refresh()

    def _on_worker_analysis_finished(self, request_id: int, results) -> None:
        if request_id != self.request_id:
            return
        self.running = False
        self.results.update({uid: a for uid, a in results.items() if a.n_done})
        self._refresh()
        self.analysis_finished.emit(request_id)

    def _on_worker_analysis_failed(self, request_id: int, message: str) -> None:
        if request_id != self.request_id:
            return
        self.running = False
        self.unavailable_reason = None
        self.last_progress = None
        log.error("analysis failed: %s", message)
        self._refresh()

    # ------------------------------------------------------------------------------ search
    def search(self, text: str) -> None:
        if self.model_state != "ready":
            self._pending_search = text
            self.ensure_model()
            return
        self._search_id += 1
        self.worker.embed_query(self._search_id, text)

    def _on_worker_search_done(self, request_id: int, text: str, embedding) -> None:
        if request_id != self._search_id:
            return
        self.last_search_query = text
        self.last_search = search_frames(embedding, self.results, top_k=10)
        self.search_finished.emit(self.last_search)

    def _on_worker_search_failed(self, request_id: int, message: str) -> None:
        if request_id == self._search_id:
            self.last_search = []
            self.search_finished.emit([])

    # ----------------------------------------------------------------------------- reading
    def set_current(self, sop_instance_uid: str | None, frame_index: int) -> None:
        self.current_uid, self.current_frame = sop_instance_uid, int(frame_index)
        self._refresh(current_only=True)

    def current_analysis(self) -> InstanceAnalysis | None:
        return self.results.get(self.current_uid) if self.current_uid else None

    def current_reading(self):
        """(reading, frame it comes from) for the frame on screen, the nearest analysed one if needed."""
        analysis = self.current_analysis()
        if analysis is None or not 0 <= self.current_frame < analysis.n_frames:
            return None
        frame = (
            self.current_frame
            if analysis.done[self.current_frame]
            else analysis.nearest_done(self.current_frame)
        )
        return None if frame is None else analysis.frame_reading(frame)

    def findings(self):
        best = best_frames(self.results)
        return best, exam_checklist(best, self.threshold_0_1)

    def instance_names(self) -> dict[str, str]:
        names = {}
        for k, loop in enumerate(self.instances):
            name = Path(str(loop.path)).name
            names[loop.sop_instance_uid] = f"#{k + 1} {name}"
        return names

    def instance_by_uid(self, uid: str):
        return next((loop for loop in self.instances if loop.sop_instance_uid == uid), None)

    def set_threshold(self, value_0_1: float) -> None:
        self.threshold_0_1 = float(value_0_1)
        update_settings(uncertain_threshold_0_1=self.threshold_0_1)
        self._refresh()

    def set_auto_analyse(self, on: bool) -> None:
        self.auto_analyse = bool(on)
        update_settings(auto_analyze=self.auto_analyse)

    # ------------------------------------------------------------------------------ labels
    def _exam_record(self):
        provider = self.exam_record_provider
        record = provider(self.study_uid) if provider is not None else None
        if record is not None:
            return record, False
        if self._own_record is None or self._own_record.study_instance_uid != self.study_uid:
            from fetalviewer.exam.record import load_exam_record

            self._own_record = load_exam_record(self.study_uid)
        return self._own_record, True

    def user_label_of_current(self) -> str | None:
        if not self.study_uid or not self.current_uid:
            return None
        record, _own = self._exam_record()
        return record.user_label(self.current_uid, self.current_frame)

    def record_label(self, user_label: str | None) -> None:
        """Accept the model's label of the frame on screen (None) or set the user's own label.

        Stored in the study's exam record as the user's, beside the model's label.
        """
        from fetalviewer.exam.record import save_exam_record

        reading = self.current_reading()
        if reading is None or reading.frame_index != self.current_frame or not self.study_uid:
            return
        record, own = self._exam_record()
        if user_label is None:
            record.accept_label(self.current_uid, self.current_frame, reading.plane_key)
        else:
            record.correct_plane(self.current_uid, self.current_frame, reading.plane_key, user_label)
        save_exam_record(record)
        self.labels_changed.emit()

    # ------------------------------------------------------------------------------ weights
    def install_weights(self, path: str) -> None:
        """Install a weights file with the same code as ``fetalviewer weights install`` (on a superqt
        worker thread; the result comes back on the GUI thread)."""
        from superqt.utils import create_worker

        from fetalviewer.model.weights import install_weights

        self.model_state = "loading"
        self.model_state_changed.emit("loading")
        self._refresh()
        worker = create_worker(install_weights, path, self._config_path, _start_thread=False)
        worker.returned.connect(self._on_install_returned)
        worker.errored.connect(self._on_install_errored)
        self._install_worker = worker  # kept alive until it finished
        worker.start()

    def _on_install_errored(self, exc: BaseException) -> None:
        self.model_state = "unavailable"
        self.unavailable_reason = f"Installing the weights failed: {exc}"
        self.model_state_changed.emit("unavailable")
        self._refresh()

    def _on_install_returned(self, record: dict) -> None:
        # From now on the settings name the weights (as after 'fetalviewer weights install').
        self.set_weights(None, record.get("weights_config_path"))
        if self.targets and self.unavailable_reason is None:
            self._check_cache()

    def add_view(self, refresh: Callable[[bool], None]) -> None:
        self._views.append(refresh)

    def _refresh(self, current_only: bool = False) -> None:
        for refresh in self._views:
            refresh(current_only)

    def shutdown(self) -> None:
        self.cancel()
        self.worker.shutdown()
