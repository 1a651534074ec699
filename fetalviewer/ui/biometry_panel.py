"""The biometry panel: measurement table, GA per parameter, combined GA, EFW, discordance, CHD review.

Everything shown comes from :class:`fetalviewer.analysis.measurement_table.MeasurementTable` over the
study's labelled measurements (manual calipers, automatic head values, edited ones), with each
equation's name and citation; refused values show the valid range. The CHD section is a prompt for
expert review from a trained CHD head on the clip's heart frames, or says why there is none and how
to train a head. :func:`build_summary` (Qt-free logic) prepares the texts; the widget only shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fetalviewer.analysis.frame_numbers import frame_label
from fetalviewer.ui import theme

PARAMETER_COLUMNS = ("Parameter", "Value", "Source", "GA (equation)")
MEASUREMENT_COLUMNS = ("Label", "Value", "Source", "Automatic value", "Where")
TRAIN_CHD_HINT = (
    "Train one on your own labelled heart clips: fetalviewer train-head chd --data DIR "
    "(DIR/labels.csv with columns clip,label = normal|abnormal); it is then found automatically."
)


@dataclass(frozen=True)
class BiometrySummary:
    """Texts of the panel (plain data, built on the GUI thread from the exam record)."""

    parameter_rows: tuple[tuple[str, str, str, str], ...] = ()
    measurement_rows: tuple[tuple[str, str, str, str, str], ...] = ()
    combined_ga: str = ""
    efw: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    model_ga: str = ""
    discordance: str = ""
    discordance_flag: bool | None = None
    chd: str = ""
    chd_flag: bool | None = None
    citations: tuple[str, ...] = field(default_factory=tuple)


def _ga_lines(estimates) -> str:
    return "\n".join(e.display_text() for e in estimates) or "no dating equation"


def build_summary(controller) -> BiometrySummary:
    """The panel's texts for the open study (``controller``: the window's BiometryController)."""
    from fetalviewer.analysis.biometry import DEFAULT_DISCORDANCE_DAYS
    from fetalviewer.analysis.estimate import format_weeks_days
    from fetalviewer.analysis.measurement_table import MeasurementTable
    from fetalviewer.settings import load_settings

    mc = controller.mc
    measurements = [m for m in mc.measurements() if m.label is not None]
    try:
        threshold = float(load_settings().get("discordance_threshold_days", DEFAULT_DISCORDANCE_DAYS))
    except (TypeError, ValueError):
        threshold = DEFAULT_DISCORDANCE_DAYS
    heads = [m for m in measurements if m.label == "HC" and m.source.from_algorithm]
    loop = controller.current_loop
    current = [m for m in heads if loop is not None and m.sop_instance_uid == loop.sop_instance_uid]
    head = (current or heads or [None])[0]
    model_ga, model_why = controller.model_ga(getattr(head, "sop_instance_uid", None),
                                              getattr(head, "frame_index", None))
    table = MeasurementTable(measurements, model_ga_days=model_ga,
                             discordance_threshold_days=threshold if threshold > 0 else DEFAULT_DISCORDANCE_DAYS)
    citations: list[str] = []

    def cite(estimates) -> None:
        for e in estimates:
            if e.citation and e.citation not in citations:
                citations.append(e.citation)

    params = []
    for row in table.rows.values():
        value = f"{row.value_mm:.1f} mm"
        name = row.label + (f"\n{row.convention}" if row.convention else "")
        source = row.source + (f"\nmean of {row.n_measurements}" if row.n_measurements > 1 else "")
        params.append((name, value, source, _ga_lines(row.ga)))
        cite(row.ga)
    names = {lp.sop_instance_uid: i + 1 for i, lp in enumerate(controller.instances)}
    rows = []
    for m in measurements:
        value = f"{m.value_mm:.1f} mm" if m.value_mm is not None else f"{m.value_px:.1f} px (uncalibrated)"
        auto = ""
        if m.automatic_values and m.automatic_values.get("value_mm") is not None:
            auto = f"{m.automatic_values['value_mm']:.1f} mm"
        where = f"#{names.get(m.sop_instance_uid, '?')} {frame_label(m.frame_index)}"
        rows.append((m.label, value, m.source, auto, where))
    combined = table.combined_ga
    cite([combined])
    if combined.ok:
        combined_text = f"Combined GA, {combined.method}: {combined.display_value()} ({combined.value:.1f} d)"
    else:
        combined_text = f"Combined GA (Hadlock 1984): unavailable ({combined.reason})"
    efw = tuple(e.display_text() for e in table.efw) or (
        "EFW (Hadlock 1985): needs AC and FL measurements",)
    cite(table.efw)
    excluded = tuple(f"{e.label}: not used ({e.reason})" for e in table.excluded)
    if model_ga is not None:
        model_text = f"Model GA: {format_weeks_days(model_ga)} ({model_ga:.0f} d, {model_why}; FetalCLIP, research use)"
    else:
        model_text = f"Model GA: unavailable ({model_why})"
    disc = table.discordance
    disc_text = disc.display_text()
    if disc.flag:
        disc_text = "GA DISCORDANCE: " + disc_text
    chd_text, chd_flag = chd_section(controller)
    return BiometrySummary(tuple(params), tuple(rows), combined_text, efw, excluded, model_text, disc_text,
                           disc.flag, chd_text, chd_flag, tuple(citations))


@dataclass(frozen=True)
class WindowChd:
    """The CHD head's result for the clip on screen: a score, or the text saying why there is none."""

    score: object | None = None  # fetalviewer.model.heads.runtime.ChdScore
    heart_frames: tuple[int, ...] = ()
    head_name: str = ""
    text: str = ""
    flag: bool | None = None


def window_chd(controller) -> WindowChd:
    """Score the clip on screen with the installed CHD head, as ``fetalviewer analyze`` does.

    The head reads the UN-normalised embeddings of the clip's heart frames (``model.visual(x)``): the
    AI review keeps each frame's normalised embedding and its norm, so they are recovered here without
    running the model (:meth:`fetalviewer.workspace.results.InstanceAnalysis.raw_embeddings`); only the
    probe (one linear layer) runs, so this is cheap enough for the GUI thread.
    """
    from fetalviewer.analysis.chd import chd_review
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.model.heads.headfile import HEAD_SUFFIX, find_head, head_dirs

    installed = any(f.is_dir() and any(f.glob(f"*{HEAD_SUFFIX}")) for f in head_dirs())
    workspace = controller.workspace
    backend = workspace.worker.backend
    loaded = backend.loaded if backend is not None else None
    if loaded is None:
        if not installed:
            return WindowChd(text=f"No CHD head installed. {TRAIN_CHD_HINT}")
        return WindowChd(text="CHD review unavailable: the CHD head runs on FetalCLIP embeddings; load the "
                              "FetalCLIP weights and run the AI review of this clip.")
    from fetalviewer.model.heads.backbone import BackboneSpec

    spec = BackboneSpec.from_loaded(loaded)
    choice = find_head("chd", spec)
    if choice.path is None:
        return WindowChd(text=f"No usable CHD head: {choice.reason}")
    loop = controller.current_loop
    analysis = workspace.results.get(loop.sop_instance_uid) if loop is not None else None
    if analysis is None:
        return WindowChd(text="CHD review: run the AI review of this clip first (the head scores its heart frames).")
    heart = tuple(i for i in range(analysis.n_frames)
                  if analysis.done[i] and analysis.frame_reading(i).plane_key == "heart")
    if not heart:
        return WindowChd(text=chd_review(None, 0).text)
    try:
        probe = _chd_probe(str(choice.path), spec)
        score = probe.score(analysis.raw_embeddings(list(heart)))
    except (FetalViewerError, ValueError) as exc:
        return WindowChd(heart_frames=heart, head_name=choice.path.name, text=f"CHD review unavailable: {exc}")
    review = chd_review(score.prob_abnormal_0_1, len(heart), threshold_0_1=score.threshold_0_1)
    return WindowChd(score, heart, choice.path.name,
                     f"{review.text} [{len(heart)} heart frames; head {choice.path.name}]", review.flag)


def chd_section(controller) -> tuple[str, bool | None]:
    """(text, flag) of the CHD review section for the clip on screen (:func:`window_chd`)."""
    result = window_chd(controller)
    return result.text, result.flag


_PROBES: dict[str, object] = {}


def _chd_probe(path: str, spec):
    from fetalviewer.model.heads.runtime import ChdProbe

    key = f"{path}|{spec.describe()}"
    if key not in _PROBES:
        _PROBES[key] = ChdProbe(path, spec)
    return _PROBES[key]


def _table(columns) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.NoSelection)
    table.setWordWrap(True)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _label(text: str = "", muted: bool = False) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    if muted:
        label.setStyleSheet(f"color: {theme.MUTED}; font-size: 11px;")
    return label


class BiometryPanel(QWidget):
    measure_requested = Signal()
    auto_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.measure_button = QPushButton("Measure head (automatic)")
        self.measure_button.setObjectName("primary")
        self.measure_button.clicked.connect(self.measure_requested)
        self.auto_check = QCheckBox("Automatically on head frames")
        self.auto_check.setToolTip("Run the head model on each paused frame (skipped on frames the "
                                   "AI review reads as another plane)")
        self.auto_check.toggled.connect(self._on_auto_check_toggled)
        self.parameters = _table(PARAMETER_COLUMNS)
        self.measurements = _table(MEASUREMENT_COLUMNS)
        self.combined_label = _label()
        self.efw_label = _label()
        self.excluded_label = _label()
        self.model_label = _label()
        self.discordance_label = _label()
        self.chd_label = _label()
        self.citations_label = _label(muted=True)
        self.note_label = _label("Automatic values come from the default head model (HC18-trained U-Net) and an "
                                 "ellipse fit; drag the ellipse, its handles or the BPD/OFD end points to edit. "
                                 "Decision support, not a diagnosis.", muted=True)

        top = QHBoxLayout()
        top.addWidget(self.measure_button)
        top.addWidget(self.auto_check)
        top.addStretch(1)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(QLabel("<b>Biometry</b> (GA per parameter)"))
        layout.addWidget(self.parameters)
        layout.addWidget(self.combined_label)
        layout.addWidget(self.efw_label)
        layout.addWidget(self.excluded_label)
        layout.addWidget(QLabel("<b>Labelled measurements</b>"))
        layout.addWidget(self.measurements)
        dating = QGroupBox("Model GA and discordance")
        dl = QVBoxLayout(dating)
        dl.addWidget(self.model_label)
        dl.addWidget(self.discordance_label)
        layout.addWidget(dating)
        chd = QGroupBox("CHD review (prompt for expert review, not a diagnosis)")
        cl = QVBoxLayout(chd)
        cl.addWidget(self.chd_label)
        layout.addWidget(chd)
        layout.addWidget(self.note_label)
        layout.addWidget(QLabel("<b>References</b>"))
        layout.addWidget(self.citations_label)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.summary = BiometrySummary()
        self.show_summary(self.summary)

    def _on_auto_check_toggled(self, on: bool) -> None:
        self.auto_toggled.emit(bool(on))

    def set_auto(self, on: bool) -> None:
        if self.auto_check.isChecked() != bool(on):
            self.auto_check.blockSignals(True)
            self.auto_check.setChecked(bool(on))
            self.auto_check.blockSignals(False)

    def set_busy(self, busy: bool) -> None:
        self.measure_button.setEnabled(not busy)
        self.measure_button.setText("Measuring the head…" if busy else "Measure head (automatic)")

    @staticmethod
    def _fill(table: QTableWidget, rows) -> None:
        table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                table.setItem(r, c, QTableWidgetItem(str(text)))
        table.resizeRowsToContents()
        height = table.horizontalHeader().height() + sum(table.rowHeight(r) for r in range(len(rows))) + 4
        table.setFixedHeight(max(height, 48))

    def show_summary(self, summary: BiometrySummary) -> None:
        self.summary = summary
        self._fill(self.parameters, summary.parameter_rows)
        self._fill(self.measurements, summary.measurement_rows)
        self.combined_label.setText(summary.combined_ga or "Combined GA: no labelled measurements yet")
        self.efw_label.setText("\n".join(summary.efw))
        self.excluded_label.setText("\n".join(summary.excluded))
        self.excluded_label.setVisible(bool(summary.excluded))
        self.model_label.setText(summary.model_ga)
        self.discordance_label.setText(summary.discordance)
        self.discordance_label.setStyleSheet(f"color: {theme.WARNING}; font-weight: bold;"
                                             if summary.discordance_flag else "")
        self.chd_label.setText(summary.chd)
        self.chd_label.setStyleSheet(f"color: {theme.WARNING}; font-weight: bold;" if summary.chd_flag else "")
        self.citations_label.setText("\n".join(summary.citations))

    def parameter_values(self) -> dict[str, dict[str, str]]:
        """Parameter -> column -> text (for tests and tools)."""
        out = {}
        for r in range(self.parameters.rowCount()):
            cells = {PARAMETER_COLUMNS[c]: self.parameters.item(r, c).text() for c in range(len(PARAMETER_COLUMNS))}
            out[cells["Parameter"].split("\n")[0]] = cells
        return out
