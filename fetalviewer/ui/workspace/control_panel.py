"""Controls of the AI review dock: analyse/cancel with progress, options, the no-weights notice,
and accepting or correcting the current frame's plane label."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fetalviewer.ui.workspace.colors import display_name

#: The model choices offered in the window (the ``--model`` values of the command line), with their text.
MODEL_CHOICES = (
    ("auto", "Auto (FetalCLIP on a GPU, MobileFetalCLIP on the CPU)"),
    ("fetalclip", "FetalCLIP (ViT-L/14)"),
    ("mobilefetalclip", "MobileFetalCLIP (FastViT MCi0, fast on a CPU)"),
)


class WorkspaceControls(QWidget):
    analyse_clicked = Signal()
    cancel_clicked = Signal()
    install_weights_clicked = Signal()
    auto_analyse_toggled = Signal(bool)
    heatmap_toggled = Signal(bool)
    threshold_changed = Signal(float)
    accept_clicked = Signal()
    correct_clicked = Signal(str)  # plane key chosen by the user
    model_chosen = Signal(str)  # "auto" | "fetalclip" | "mobilefetalclip"

    def __init__(self, plane_keys: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # -- the one place that says the model is unavailable, with the action that fixes it
        self.notice = QFrame()
        self.notice.setObjectName("weightsNotice")
        self.notice.setStyleSheet(
            "QFrame#weightsNotice { background: #3b2f1a; border: 1px solid #ffa94d; border-radius: 4px; }"
        )
        self.notice_label = QLabel()
        self.notice_label.setWordWrap(True)
        self.install_button = QPushButton("Install model weights…")
        notice_layout = QVBoxLayout(self.notice)
        notice_layout.addWidget(self.notice_label)
        notice_layout.addWidget(self.install_button)
        self.notice.hide()

        self.model_combo = QComboBox()
        self.model_combo.setObjectName("modelChoice")
        for choice, text in MODEL_CHOICES:
            self.model_combo.addItem(text, choice)
        self.model_combo.setToolTip("Which model labels the frames; each model's results are kept apart")

        self.analyse_button = QPushButton("Analyse study")
        self.analyse_button.setObjectName("primary")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress_label = QLabel("")
        self.progress_label.setWordWrap(True)
        self.progress_label.setObjectName("progressLabel")

        self.auto_check = QCheckBox("Analyse studies when opened")
        self.heatmap_check = QCheckBox("Heat map (where the image supports the plane)")
        self.threshold_spin = QDoubleSpinBox()
        self.threshold_spin.setRange(0.05, 0.99)
        self.threshold_spin.setSingleStep(0.05)
        self.threshold_spin.setDecimals(2)
        self.threshold_spin.setPrefix("Uncertain below ")

        self.label_combo = QComboBox()
        for key in plane_keys:
            self.label_combo.addItem(display_name(key), key)
        # No plane preselected: a default value would read as a label nobody gave.
        self.label_combo.setPlaceholderText("choose the plane...")
        self.label_combo.setCurrentIndex(-1)
        self.accept_button = QPushButton("Accept model label")
        self.correct_button = QPushButton("Set label")
        self.label_status = QLabel("")
        self.label_status.setWordWrap(True)

        self.auto_check.setText("Auto-analyse on open")
        self.heatmap_check.setText("Heat map")
        self.heatmap_check.setToolTip(
            "Where the image supports the predicted plane: cosine of each image patch with the plane's text "
            "embedding (a documented stand-in for the reference ScoreCAM)"
        )
        self.accept_button.setText("Accept model's")
        self.correct_button.setText("Set mine")
        self.threshold_spin.setPrefix("uncertain < ")
        self.threshold_spin.setToolTip("Planes under this probability are marked uncertain (setting)")

        model_row = QHBoxLayout()
        model_row.addWidget(QLabel("Model:"))
        model_row.addWidget(self.model_combo, 1)
        row = QHBoxLayout()
        row.addWidget(self.analyse_button, 1)
        row.addWidget(self.cancel_button)
        options = QHBoxLayout()
        options.addWidget(self.auto_check)
        options.addWidget(self.heatmap_check)
        options.addWidget(self.threshold_spin)
        label_row = QHBoxLayout()
        label_row.addWidget(QLabel("Plane label:"))
        label_row.addWidget(self.label_combo, 1)
        label_row.addWidget(self.correct_button)
        label_row.addWidget(self.accept_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.notice)
        layout.addLayout(model_row)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        layout.addLayout(options)
        layout.addLayout(label_row)
        layout.addWidget(self.label_status)

        self.analyse_button.clicked.connect(self.analyse_clicked)
        self.model_combo.activated.connect(self._on_model_combo_activated)
        self.cancel_button.clicked.connect(self.cancel_clicked)
        self.install_button.clicked.connect(self.install_weights_clicked)
        self.auto_check.toggled.connect(self.auto_analyse_toggled)
        self.heatmap_check.toggled.connect(self.heatmap_toggled)
        self.threshold_spin.valueChanged.connect(self.threshold_changed)
        self.accept_button.clicked.connect(self.accept_clicked)
        self.correct_button.clicked.connect(self._on_correct_button_clicked)

    def _on_model_combo_activated(self, index: int) -> None:
        self.model_chosen.emit(str(self.model_combo.itemData(index)))

    def show_model_choice(self, choice: str) -> None:
        """Show ``choice`` in the model list (no signal: only the user's pick emits ``model_chosen``)."""
        index = self.model_combo.findData(choice)
        if index >= 0 and index != self.model_combo.currentIndex():
            self.model_combo.setCurrentIndex(index)

    def _on_correct_button_clicked(self) -> None:
        if self.label_combo.currentIndex() < 0:
            self.label_status.setText("Choose the plane in the list first, then 'Set mine'.")
            return
        self.correct_clicked.emit(str(self.label_combo.currentData()))

    def set_model_unavailable(self, reason: str | None) -> None:
        """Show (reason) or hide (None) the notice; AI actions are disabled while it shows."""
        self.notice.setVisible(reason is not None)
        if reason is not None:
            self.notice_label.setText(
                f"<b>AI review unavailable.</b> {reason}<br>Viewing, playback and measurements work as usual."
            )
        for widget in (self.analyse_button, self.heatmap_check):
            widget.setEnabled(reason is None)

    def set_running(self, running: bool) -> None:
        self.analyse_button.setEnabled(not running and not self.notice.isVisible())
        self.cancel_button.setEnabled(running)

    def set_progress(self, fraction_0_1: float, text: str, detail: str) -> None:
        self.progress.setValue(int(round(fraction_0_1 * 1000)))
        self.progress.setFormat(text)
        self.progress_label.setText(detail)
