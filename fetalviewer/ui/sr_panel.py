"""The "SR" tab: an OB-GYN structured report of the open study (the scanner's own, or one this app wrote)
beside the app's own values, parameter by parameter.

SR files have no pixel data, so the study loader lists them as problems (files given one by one) or skips
them (met while walking a folder). After every load the candidates are read with
:meth:`fetalviewer.report.sr.ObGynSR.from_file` on a superqt worker (a file that is not an SR is ignored); the
table puts each labelled parameter's SR value (mean of its measurements) beside the app's value of the
same parameter from the exam record (:func:`fetalviewer.report.build.sr_comparison_rows`, the rows the
PDF shows too), with the difference and the SR's own GA and equation. Measurements with a code the app
does not know are listed with their meaning. The table follows every measurement change.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

log = logging.getLogger(__name__)

COLUMNS = ("Parameter", "SR value", "App value", "App - SR", "SR GA (equation)", "SR file")


def read_reports(paths) -> tuple[list, list[str]]:
    """(OB SR reports, notes) of ``paths``; files that are not SRs are left out silently (worker body)."""
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.report.sr import ObGynSR

    reports, notes = [], []
    for path in dict.fromkeys(str(p) for p in paths):
        try:
            report = ObGynSR.from_file(path)
        except (FetalViewerError, OSError, ValueError):
            continue
        if report.measurements or report.is_ob_report:
            reports.append(report)
            notes += [f"{Path(path).name}: {n}" for n in report.notes]
    return reports, notes


def sr_candidates(outcome) -> list[str]:
    """Files of a load that may be SRs: problems saying 'no pixel data', and files skipped in folders."""
    paths = [p for p, message in getattr(outcome, "problems", []) if "no pixel data" in str(message)]
    return paths + [str(p) for p in getattr(outcome, "skipped", ())]


class SrPanel(QWidget):
    reports_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.reports: list = []
        self.notes: list[str] = []
        layout = QVBoxLayout(self)
        self.summary = QLabel("No structured report in this study.")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table, 1)
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        layout.addWidget(self.note_label)

    def rows(self) -> list[dict[str, str]]:
        """The table as column -> text dicts (what the user sees)."""
        return [
            {
                name: (self.table.item(r, c).text() if self.table.item(r, c) else "")
                for c, name in enumerate(COLUMNS)
            }
            for r in range(self.table.rowCount())
        ]

    def show_comparison(self, reports, measurements, threshold_days: float = 14.0) -> None:
        """Fill the table: each SR parameter beside the app's value of ``measurements`` (exam record)."""
        from fetalviewer.report.biometry import exam_biometry
        from fetalviewer.report.build import sr_comparison_rows

        self.reports = list(reports)
        parameters = exam_biometry(list(measurements), None, threshold_days).parameters
        rows = []
        for row in sr_comparison_rows(self.reports, parameters):
            app = f"{row.app_value_mm:.1f} mm" if row.app_value_mm is not None else "not measured in the app"
            diff = "-"
            if row.difference_mm is not None:  # no "-0.0": a difference under 0.05 mm prints as +0.0
                diff = f"{row.difference_mm + 0.0 if abs(row.difference_mm) >= 0.05 else 0.0:+.1f} mm"
            rows.append((row.label, f"{row.sr_value_mm:.1f} mm", app, diff, row.sr_ga_text, row.source))
        for report in self.reports:
            for m in report.measurements:
                if m.label is None:
                    rows.append((f"{m.meaning} ({m.code})", f"{m.value_mm:.1f} mm", "no such parameter in the app",
                                 "-", "-", report.path.name))  # fmt: skip
        edited = [
            (r.path.name, m) for r in self.reports for m in r.measurements if m.automatic_value_mm is not None
        ]
        self.table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, text in enumerate(values):
                self.table.setItem(r, c, QTableWidgetItem(str(text)))
        if not self.reports:
            self.summary.setText("No structured report in this study.")
        else:
            names = ", ".join(
                f"{r.path.name} ({'OB-GYN TID 5000' if r.is_ob_report else 'SR'}, "
                f"{r.manufacturer or 'unknown manufacturer'}, {len(r.measurements)} measurement(s))"
                for r in self.reports
            )
            self.summary.setText(f"Structured report(s): {names}. Each SR value beside the app's own value "
                                 "(exam record: manual, automatic and edited calipers).")  # fmt: skip
        notes = list(self.notes)
        notes += [f"{name}: {m.label or m.meaning} {m.value_mm:.1f} mm was edited from an automatic "
                  f"{m.automatic_value_mm:.1f} mm" for name, m in edited]  # fmt: skip
        notes += [
            f"{r.path.name}: model GA {r.model_ga_days:.0f} d ({r.model_algorithm[0]})"
            for r in self.reports if r.model_ga_days is not None and r.model_algorithm
        ]  # fmt: skip
        self.note_label.setText("\n".join(notes))
        self.reports_changed.emit()


class SrController(QObject):
    """Reads the SRs of each load on a worker and keeps the tab in step with the measurements."""

    loaded = Signal(int)  # number of SRs found in the last load

    def __init__(self, window, panel: SrPanel) -> None:
        super().__init__(window)
        self.window = window
        self.panel = panel
        self._load_id = 0
        self._worker = None
        self.reports: list = []
        self._closed = False
        window.loader.loaded.connect(self._on_loader_loaded)
        window.measurements.changed.connect(self.refresh)

    def _on_loader_loaded(self, outcome) -> None:
        from superqt.utils import create_worker

        self._load_id += 1
        load_id = self._load_id
        self.reports = []
        tabs = self.window.right_tabs
        tabs.setTabText(tabs.indexOf(self.panel), "SR")
        self.refresh()
        worker = create_worker(read_reports, sr_candidates(outcome), _start_thread=False, _ignore_errors=True)
        worker.returned.connect(lambda found, i=load_id: self._on_worker_returned(i, found))
        self._worker = worker
        worker.start()

    def shutdown(self) -> None:
        """The window is closing: a read still running is dropped when it returns."""
        self._load_id += 1
        self._closed = True

    def _on_worker_returned(self, load_id: int, found) -> None:
        if load_id != self._load_id or self._closed:
            return  # a newer study was opened meanwhile, or the window closed
        self.reports, self.panel.notes = found
        self._unlist_problems({str(r.path) for r in self.reports})
        self.refresh()
        if self.reports:
            tabs = self.window.right_tabs
            tabs.setTabText(tabs.indexOf(self.panel), f"SR ({len(self.reports)})")
            self.window.statusBar().showMessage(
                f"{len(self.reports)} structured report(s) read: see the SR tab", 10000
            )
        self.loaded.emit(len(self.reports))

    def _unlist_problems(self, paths: set[str]) -> None:
        """An SR is no loading problem: take its 'no pixel data' line out of the Problems panel."""
        problems = self.window.problems
        if not paths:
            return
        for row in reversed(range(problems.count())):
            path, _, message = problems.item(row).toolTip().partition("\n")
            if path in paths and "no pixel data" in message:
                problems.takeItem(row)
                getattr(problems, "_seen", set()).discard((path, message))
        if problems.count() == 0:
            self.window.problems_dock.hide()

    def refresh(self) -> None:
        from fetalviewer.settings import load_settings

        uids = {i.study_instance_uid for i in self.window.instances}
        reports = [r for r in self.reports if not uids or r.study_instance_uid in uids]
        measurements = self.window.measurements.measurements()
        threshold = float(load_settings().get("discordance_threshold_days", 14))
        self.panel.show_comparison(reports, measurements, threshold)
