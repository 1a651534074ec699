"""Dark theme typical of ultrasound review stations: black image area, charcoal panels, cyan accents."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#35b5e5"
CALIPER = "#ffd43b"
CALIPER_SELECTED = "#ff922b"
REGION = "#4dabf7"
REGION_CALIBRATED = "#51cf66"
WARNING = "#ffa94d"
TEXT = "#e6e6e6"
MUTED = "#9aa0a6"
ERROR = "#e05252"

_STYLE = f"""
QMainWindow, QWidget {{ background: #1e1f22; color: {TEXT}; }}
QDockWidget::title {{ background: #2b2d31; padding: 4px 6px; font-weight: bold; }}
QToolBar {{ background: #26282c; border: 0; spacing: 2px; padding: 2px; }}
QToolButton {{ padding: 3px 6px; border-radius: 3px; }}
QToolButton:hover {{ background: #3a3d42; }}
QToolButton:checked {{ background: #1c5f7a; }}
QTreeWidget, QTableWidget, QListWidget {{
    background: #17181a; alternate-background-color: #1c1d20; border: 1px solid #303237;
    selection-background-color: #1c5f7a; selection-color: white; }}
QHeaderView::section {{ background: #2b2d31; color: {MUTED}; border: 0; padding: 3px; }}
QPushButton {{ background: #2f3237; border: 1px solid #44474d; border-radius: 3px; padding: 4px 10px; }}
QPushButton:hover {{ background: #3a3d42; }}
QPushButton#primary {{ background: #1c6e8f; border-color: {ACCENT}; font-weight: bold; }}
QPushButton#primary:disabled {{ background: #263238; border-color: #37474f; color: #78858f; }}
QComboBox {{ background: #2f3237; border: 1px solid #44474d; border-radius: 3px; padding: 2px 6px; }}
QSlider::groove:horizontal {{ height: 6px; background: #3a3d42; border-radius: 3px; }}
QSlider::handle:horizontal {{ background: {ACCENT}; width: 12px; margin: -5px 0; border-radius: 6px; }}
QSlider::sub-page:horizontal {{ background: #1c6e8f; border-radius: 3px; }}
QStatusBar {{ background: #26282c; color: {MUTED}; }}
QWidget#infoBar {{ background: #000000; }}
QLabel#overlay {{ background: transparent; color: #d0d4d8; font-family: monospace; font-size: 12px; }}
QToolButton:disabled, QPushButton:disabled {{ color: #5c6066; }}
QLabel#canvasMessage {{ background: rgba(120, 30, 30, 200); color: white; padding: 6px; border-radius: 4px; }}
"""


def apply_dark_theme(app: QApplication) -> None:
    """Install the dark palette and style sheet on ``app``."""
    app.setStyle("Fusion")
    pal = QPalette()
    for role, color in (
        (QPalette.Window, "#1e1f22"),
        (QPalette.WindowText, TEXT),
        (QPalette.Base, "#17181a"),
        (QPalette.AlternateBase, "#1c1d20"),
        (QPalette.Text, TEXT),
        (QPalette.Button, "#2f3237"),
        (QPalette.ButtonText, TEXT),
        (QPalette.Highlight, "#1c5f7a"),
        (QPalette.HighlightedText, "#ffffff"),
        (QPalette.ToolTipBase, "#2b2d31"),
        (QPalette.ToolTipText, TEXT),
        (QPalette.PlaceholderText, MUTED),
    ):
        pal.setColor(role, QColor(color))
    app.setPalette(pal)
    app.setStyleSheet(_STYLE)
