"""Query/retrieve: a search form (patient name with wildcards, ID, date range, accession, modality),
matching studies with their series, and retrieval into the local archive with progress and cancel."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from fetalviewer.net.nodes import NodeStore, local_ae_from_settings
from fetalviewer.ui.net_task import NetTask
from fetalviewer.ui.study_list import format_date

HEADERS = ("Patient", "Patient ID", "Date", "Accession", "Description", "Modalities", "Series", "Instances")


class QueryDialog(QDialog):
    retrieved = Signal(object)  # RetrieveResult

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Query / Retrieve")
        self.resize(1000, 640)
        self._task: NetTask | None = None
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.node_combo = QComboBox()
        self.node_combo.addItems(sorted(NodeStore().load()))
        self.name_edit, self.id_edit, self.accession_edit = QLineEdit(), QLineEdit(), QLineEdit()
        self.name_edit.setPlaceholderText("e.g. SMITH* (wildcards * and ?)")
        self.date_from, self.date_to = QLineEdit(), QLineEdit()
        for edit in (self.date_from, self.date_to):
            edit.setPlaceholderText("YYYYMMDD")
            edit.setMaxLength(8)
        dates = QHBoxLayout()
        dates.addWidget(self.date_from)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.date_to)
        self.modality_edit = QLineEdit("US")
        form.addRow("Node", self.node_combo)
        form.addRow("Patient name", self.name_edit)
        form.addRow("Patient ID", self.id_edit)
        form.addRow("Study date", dates)
        form.addRow("Accession", self.accession_edit)
        form.addRow("Modality", self.modality_edit)
        layout.addLayout(form)
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        layout.addWidget(self.search_button)
        self.results = QTreeWidget()
        self.results.setHeaderLabels(HEADERS)
        self.results.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.results.header().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.results.itemExpanded.connect(self._on_results_expanded)
        layout.addWidget(self.results, 1)
        bottom = QHBoxLayout()
        self.via_combo = QComboBox()
        self.via_combo.addItems(["default", "get", "move", "wado"])
        self.retrieve_button = QPushButton("Retrieve selected")
        self.retrieve_button.clicked.connect(self.retrieve_selected)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        bottom.addWidget(QLabel("via"))
        bottom.addWidget(self.via_combo)
        bottom.addWidget(self.retrieve_button)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(self.progress, 1)
        layout.addLayout(bottom)
        self.message = QLabel()
        self.message.setWordWrap(True)
        layout.addWidget(self.message)

    # -- helpers -----------------------------------------------------------------------------------
    def _node(self):
        return NodeStore().get(self.node_combo.currentText())

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setStyleSheet("color: #d9534f;" if error else "")
        self.message.setText(text)

    def _busy(self, busy: bool) -> None:
        self.search_button.setEnabled(not busy)
        self.retrieve_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def _run(self, job, done, progress=None) -> None:
        self._busy(True)
        self._task = NetTask(job, self)
        self._task.done.connect(lambda result: (self._busy(False), done(result)))
        self._task.failed.connect(lambda text: (self._busy(False), self._say(text, error=True)))
        if progress is not None:
            self._task.progress.connect(progress)
        self._task.start()

    # -- search ------------------------------------------------------------------------------------
    def search(self) -> None:
        from fetalviewer.net.query import StudyQuery, find_studies

        dates = self.date_from.text().strip(), self.date_to.text().strip()
        date = f"{dates[0]}-{dates[1]}" if dates[1] and dates[1] != dates[0] else dates[0]
        if dates[1] and not dates[0]:
            date = f"-{dates[1]}"
        try:
            node = self._node()
            query = StudyQuery(self.id_edit.text().strip(), self.name_edit.text().strip(), date,
                               self.accession_edit.text().strip(), self.modality_edit.text().strip())  # fmt: skip
        except (KeyError, ValueError) as exc:
            self._say(str(exc.args[0] if exc.args else exc), error=True)
            return
        local = local_ae_from_settings()
        self._say(f"searching {node.describe()}…")
        self._run(lambda progress, cancel: find_studies(node, local, query), self.show_studies)

    def show_studies(self, studies: list[dict]) -> None:
        self.results.clear()
        for s in studies:
            item = QTreeWidgetItem([s["patient_name"].replace("^", " "), s["patient_id"], format_date(s["study_date"]),
                                    s["accession_number"], s["study_description"],
                                    ", ".join(s["modalities_in_study"]), str(s["n_series"] or ""),
                                    str(s["n_instances"] or "")])  # fmt: skip
            item.setData(0, 256, s["study_instance_uid"])
            item.setToolTip(0, s["study_instance_uid"])
            item.setChildIndicatorPolicy(QTreeWidgetItem.ShowIndicator)
            self.results.addTopLevelItem(item)
        self._say(f"{len(studies)} study(ies) found; expand a study for its series, select and retrieve")

    def _on_results_expanded(self, item: QTreeWidgetItem) -> None:
        if item.childCount() or item.parent() is not None:
            return
        from fetalviewer.net.query import find_series

        node, local, uid = self._node(), local_ae_from_settings(), item.data(0, 256)

        def show(series: list[dict]) -> None:
            for r in series:
                QTreeWidgetItem(item, [f"series {r['series_number']}", "", "", "", r["series_description"],
                                       r["modality"], "", str(r["n_instances"] or "")])  # fmt: skip

        self._run(lambda progress, cancel: find_series(node, local, uid), show)

    # -- retrieve ----------------------------------------------------------------------------------
    def selected_study_uids(self) -> list[str]:
        items = [i if i.parent() is None else i.parent() for i in self.results.selectedItems()]
        return list(dict.fromkeys(i.data(0, 256) for i in items))

    def retrieve_selected(self) -> None:
        from fetalviewer.net.retrieve import retrieve
        from fetalviewer.studydb import open_study_db

        uids = self.selected_study_uids()
        if not uids:
            self._say("select one or more studies first", error=True)
            return
        node, local = self._node(), local_ae_from_settings()
        via = None if self.via_combo.currentText() == "default" else self.via_combo.currentText()
        self.progress.setRange(0, 0)

        def job(progress, cancel):
            with open_study_db() as db:
                return retrieve(node, local, uids, db, via, lambda d, t: progress((d, t)), cancel)

        self._say(f"retrieving {len(uids)} study(ies) from {node.name}…")
        self._run(job, self._on_retrieved, self._on_retrieve_progress)

    def _on_retrieve_progress(self, counts) -> None:
        done, total = counts
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        self.progress.setFormat(f"{done}{'/' + str(total) if total else ''} instance(s)")

    def _on_retrieved(self, result) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        state = "cancelled: " if result.cancelled else ""
        self._say(f"{state}{result.stored} instance(s) stored in the local archive, {result.failed} failed"
                  + (f" ({result.problems[0]})" if result.problems else ""), error=bool(result.failed))  # fmt: skip
        self.retrieved.emit(result)

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._say("cancelling…")

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.cancel()
        super().closeEvent(event)
