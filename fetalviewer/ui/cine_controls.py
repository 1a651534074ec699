"""Cine transport bar: first/-10/-1/play/+1/+10/last, frame slider with frame number and time, speed."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QToolButton, QVBoxLayout, QWidget

from fetalviewer.analysis.frame_numbers import frame_label
from fetalviewer.ui import theme
from fetalviewer.ui.playback_clock import SPEEDS


def _fmt_speed(speed: float) -> str:
    return f"{speed:g}×"


class CineControls(QWidget):
    step_requested = Signal(int)
    first_requested = Signal()
    last_requested = Signal()
    play_toggled = Signal()
    seek_requested = Signal(int)
    speed_requested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.buttons: dict[str, QToolButton] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 4, 8, 4)
        outer.setSpacing(2)
        top = QHBoxLayout()
        layout = QHBoxLayout()
        outer.addLayout(top)
        outer.addLayout(layout)
        for key, text, tip, slot in (
            ("first", "|◀", "First frame (Home)", self.first_requested.emit),
            ("back10", "−10", "Back 10 frames (Down / Shift+Left)", lambda: self.step_requested.emit(-10)),
            ("back1", "◀1", "Previous frame (Left)", lambda: self.step_requested.emit(-1)),
            ("play", "▶", "Play / pause (Space)", self.play_toggled.emit),
            ("fwd1", "1▶", "Next frame (Right)", lambda: self.step_requested.emit(1)),
            ("fwd10", "+10", "Forward 10 frames (Up / Shift+Right)", lambda: self.step_requested.emit(10)),
            ("last", "▶|", "Last frame (End)", self.last_requested.emit),
        ):
            button = QToolButton()
            button.setText(text)
            button.setToolTip(tip)
            button.setFocusPolicy(Qt.NoFocus)
            button.clicked.connect(slot)
            layout.addWidget(button)
            self.buttons[key] = button
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setFocusPolicy(Qt.NoFocus)
        self.slider.setMinimum(0)
        self.slider.valueChanged.connect(self._on_slider_value_changed)
        top.addWidget(self.slider, 1)
        self.position_label = QLabel("—")
        self.position_label.setStyleSheet(f"font-family: monospace; color: {theme.TEXT};")
        top.addWidget(self.position_label)
        layout.addStretch(1)
        self.mode_label = QLabel("")
        self.mode_label.setStyleSheet(f"color: {theme.MUTED};")
        layout.addWidget(self.mode_label)
        self.speed_combo = QComboBox()
        self.speed_combo.setFocusPolicy(Qt.NoFocus)
        self.speed_combo.setToolTip("Playback speed (+ / −)")
        for s in SPEEDS:
            self.speed_combo.addItem(_fmt_speed(s), s)
        self.speed_combo.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_combo.currentIndexChanged.connect(
            lambda i: self.speed_requested.emit(float(self.speed_combo.itemData(i)))
        )
        layout.addWidget(self.speed_combo)
        self.set_enabled_for(0)

    def set_enabled_for(self, n_frames: int) -> None:
        """Enable the transport for a cine of ``n_frames`` (disabled for stills)."""
        cine = n_frames > 1
        for b in self.buttons.values():
            b.setEnabled(cine)
        self.slider.setEnabled(cine)
        self.speed_combo.setEnabled(cine)
        self.slider.blockSignals(True)
        self.slider.setMaximum(max(n_frames - 1, 0))
        self.slider.blockSignals(False)

    def show_position(self, index: int, n_frames: int, time_ms: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(index)
        self.slider.blockSignals(False)
        self.position_label.setText(f"{frame_label(index, n_frames).capitalize()} · {time_ms:.1f} ms")

    def show_playing(self, playing: bool) -> None:
        self.buttons["play"].setText("⏸" if playing else "▶")

    def show_speed(self, speed: float) -> None:
        self.speed_combo.blockSignals(True)
        self.speed_combo.setCurrentText(_fmt_speed(speed))
        self.speed_combo.blockSignals(False)

    def show_mode(self, text: str) -> None:
        self.mode_label.setText(text)

    def _on_slider_value_changed(self, value: int) -> None:
        self.seek_requested.emit(int(value))
