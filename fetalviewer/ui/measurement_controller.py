"""Keeps the study's measurements: caliper layer <-> measurement panel <-> exam record on disk.

Every change (new caliper, drag finished, label, delete) is written at once to the study's exam
record (atomic JSON, :mod:`fetalviewer.exam.record`), so nothing the user measured is lost. Calipers
are shown only on their own instance and frame.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from fetalviewer.ui import measure_adapter as ma
from fetalviewer.ui.calipers import CaliperLayer
from fetalviewer.ui.measurement_panel import MeasurementPanel, MeasurementRow

log = logging.getLogger(__name__)


class MeasurementController(QObject):
    jump_requested = Signal(str, int)  # sop_instance_uid, frame_index
    status = Signal(str)
    changed = Signal()

    def __init__(self, layer: CaliperLayer, panel: MeasurementPanel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.layer = layer
        self.panel = panel
        self._records: dict[str, ma.ExamRecord] = {}
        self._instances: list = []
        self._by_sop: dict[str, tuple[int, object]] = {}
        self._current: tuple[object, int] | None = None
        self._selected: str | None = None
        layer.drawn.connect(self._on_layer_drawn)
        layer.preview.connect(self._on_layer_preview)
        layer.edited.connect(self._on_layer_edited)
        layer.clicked.connect(self._on_layer_clicked)
        panel.selected.connect(self._on_panel_selected)
        panel.label_assigned.connect(self._on_panel_label_assigned)
        panel.delete_requested.connect(self.delete)

    # -- study -----------------------------------------------------------------------------------

    def set_instances(self, instances) -> list[str]:
        """Take the study's instances and load their exam records; returns record problems."""
        self._instances = list(instances)
        self._by_sop = {loop.sop_instance_uid: (i, loop) for i, loop in enumerate(self._instances)}
        self._records = {}
        problems = []
        for loop in self._instances:
            uid = loop.study_instance_uid
            if uid and uid not in self._records:
                record = ma.load_exam_record(uid)
                if record.load_problem:
                    problems.append(record.load_problem)
                self._records[uid] = record
        self._current = None
        self._selected = None
        self._refresh_panel()
        return problems

    def measurements(self) -> list:
        """All measurements of the open instances, in study order then frame order."""
        out = []
        for record in self._records.values():
            out.extend(m for m in record.measurements if m.sop_instance_uid in self._by_sop)
        return sorted(out, key=lambda m: (self._by_sop[m.sop_instance_uid][0], m.frame_index))

    def measurement(self, measurement_id: str):
        for record in self._records.values():
            m = record.measurement(measurement_id)
            if m is not None:
                return m
        return None

    @property
    def selected_id(self) -> str | None:
        return self._selected

    def show_frame(self, loop, frame_index: int) -> None:
        """The canvas now shows ``frame_index`` of ``loop``: show that frame's calipers only."""
        self._current = (loop, frame_index)
        self._refresh_layer()

    # -- edits -----------------------------------------------------------------------------------

    def record_for_study(self, study_uid: str | None):
        """The live exam record of an open study (the one the calipers write to), or None."""
        return self._records.get(study_uid) if study_uid else None

    def record_for_instance(self, sop_uid: str):
        """The live exam record of the study an open instance belongs to, or None."""
        entry = self._by_sop.get(sop_uid)
        return None if entry is None else self.record_for_study(entry[1].study_instance_uid)

    def _record_for(self, sop_uid: str):
        return self.record_for_instance(sop_uid)

    def _store(self, m) -> None:
        record = self._record_for(m.sop_instance_uid)
        if record is None:
            self.status.emit("measurement kept for this session only: the instance has no StudyInstanceUID")
            return
        record.put_measurement(m)
        self._save(record)

    def _save(self, record) -> None:
        try:
            ma.save_exam_record(record)
        except OSError as exc:
            log.error("exam record could not be saved: %s", exc)
            self.status.emit(f"Could not save the exam record: {exc}")

    def add(self, loop, frame_index: int, kind: str, geometry: dict):
        """Create a measurement on ``frame_index`` of ``loop`` (the path the mouse takes too)."""
        m = ma.new_measurement(loop, frame_index, kind, geometry)
        self._store(m)
        self._selected = m.measurement_id
        self._refresh_panel()
        self._refresh_layer()
        msg = m.display_text()
        if not m.is_calibrated:
            msg += f" — {m.uncalibrated_reason}"
        self.status.emit(msg)
        self.changed.emit()
        return m

    def put_many(self, measurements, remove_ids=()) -> None:
        """Store several measurements at once (e.g. automatic biometry) and drop ``remove_ids``.

        One save per exam record, one refresh of the panel and the calipers, one ``changed``.
        """
        touched = {}
        for mid in remove_ids:
            for record in self._records.values():
                if record.remove_measurement(mid):
                    touched[id(record)] = record
        for m in measurements:
            record = self._record_for(m.sop_instance_uid)
            if record is None:
                continue
            record.put_measurement(m)
            touched[id(record)] = record
        for record in touched.values():
            self._save(record)
        if self._selected in set(remove_ids):
            self._selected = None
        self._refresh_panel()
        self._refresh_layer()
        self.changed.emit()

    def delete(self, measurement_id: str) -> bool:
        for record in self._records.values():
            if record.remove_measurement(measurement_id):
                self._save(record)
                if self._selected == measurement_id:
                    self._selected = None
                self._refresh_panel()
                self._refresh_layer()
                self.status.emit("Measurement deleted")
                self.changed.emit()
                return True
        return False

    def delete_selected(self) -> bool:
        return self.delete(self._selected) if self._selected else False

    def set_label(self, measurement_id: str, label: str | None) -> None:
        m = self.measurement(measurement_id)
        if m is None or m.label == label:
            return
        try:
            new = ma.relabelled(m, label)
        except ValueError as exc:
            self.status.emit(str(exc))
            self._refresh_panel()
            return
        self._store(new)
        self._refresh_panel()
        self.layer.set_label(measurement_id, ma.caption(new))
        self.changed.emit()

    def select(self, measurement_id: str | None) -> None:
        self._selected = measurement_id
        self.layer.select(measurement_id)
        self.panel.select(measurement_id)

    # -- views -----------------------------------------------------------------------------------

    def _refresh_panel(self) -> None:
        rows = []
        for m in self.measurements():
            idx, loop = self._by_sop[m.sop_instance_uid]
            try:
                t = float(loop.timing.timestamps_ms[m.frame_index])
            except (AttributeError, IndexError, TypeError):
                t = 0.0
            rows.append(MeasurementRow(m, idx + 1, t))
        self.panel.set_rows(rows, self._selected)

    def _refresh_layer(self) -> None:
        if self._current is None:
            self.layer.show_calipers([])
            return
        loop, frame = self._current
        shown = [
            (m.measurement_id, m.kind, ma_geometry(m), ma.caption(m))
            for m in self.measurements()
            if m.sop_instance_uid == loop.sop_instance_uid and m.frame_index == frame
        ]
        self.layer.show_calipers(shown)
        self.layer.select(self._selected)

    # -- handlers --------------------------------------------------------------------------------

    def _on_layer_drawn(self, kind: str, geometry: dict) -> None:
        if self._current is None:
            return
        loop, frame = self._current
        try:
            self.add(loop, frame, kind, geometry)
        except (ValueError, TypeError) as exc:
            self.status.emit(f"Caliper not created: {exc}")

    def _on_layer_preview(self, measurement_id: str, geometry: dict) -> None:
        m = self.measurement(measurement_id)
        if m is None or self._current is None:
            return
        try:
            self.layer.set_label(measurement_id, ma.caption(ma.moved(self._current[0], m, geometry)))
        except (ValueError, TypeError):
            pass  # a degenerate intermediate shape; the finished edit reports problems

    def _on_layer_edited(self, measurement_id: str, geometry: dict) -> None:
        m = self.measurement(measurement_id)
        if m is None or self._current is None:
            return
        try:
            new = ma.moved(self._current[0], m, geometry)
        except (ValueError, TypeError) as exc:
            self.status.emit(f"Edit not kept: {exc}")
            self._refresh_layer()
            return
        self._store(new)
        self._selected = measurement_id
        self._refresh_panel()
        self.layer.set_label(measurement_id, ma.caption(new))
        self.layer.select(measurement_id)
        self.changed.emit()

    def _on_layer_clicked(self, measurement_id: str) -> None:
        self.select(measurement_id)

    def _on_panel_selected(self, measurement_id: str) -> None:
        m = self.measurement(measurement_id)
        if m is None:
            return
        self._selected = measurement_id
        self.jump_requested.emit(m.sop_instance_uid, m.frame_index)
        self.layer.select(measurement_id)

    def _on_panel_label_assigned(self, measurement_id: str, label) -> None:
        self.set_label(measurement_id, label)


def ma_geometry(m) -> dict:
    """The caliper geometry of a measurement in the layer's terms."""
    if m.kind == "distance":
        return {"points_px": tuple(tuple(p) for p in m.points_px)}
    return {"center_px": tuple(m.center_px), "semi_axes_px": tuple(m.semi_axes_px), "angle_deg": m.angle_deg}
