"""The keyboard shortcuts: one table used both to create the window's actions and for the F1 help."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

#: (action name, key sequences, description). The window binds each name to a handler.
SHORTCUTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("play_pause", ("Space",), "Play / pause the cine"),
    ("step_back", ("Left",), "Previous frame"),
    ("step_forward", ("Right",), "Next frame"),
    ("step_back_10", ("Down", "Shift+Left"), "Back 10 frames"),
    ("step_forward_10", ("Up", "Shift+Right"), "Forward 10 frames"),
    ("first_frame", ("Home",), "First frame of the played range"),
    ("last_frame", ("End",), "Last frame of the played range"),
    ("previous_instance", ("PgUp",), "Previous instance of the study"),
    ("next_instance", ("PgDown",), "Next instance of the study"),
    ("faster", ("+", "="), "Faster playback (up to 4×)"),
    ("slower", ("-",), "Slower playback (down to 0.25×)"),
    ("distance", ("D",), "Distance caliper: click the two end points"),
    ("ellipse", ("E",), "Ellipse caliper: click both ends of one axis, then the width"),
    ("cancel_tool", ("Esc",), "Cancel the caliper being drawn"),
    ("delete_measurement", ("Del", "Backspace"), "Delete the selected measurement"),
    ("fit", ("F",), "Fit the image to the window"),
    ("zoom_in", ("Ctrl++", "Ctrl+="), "Zoom in (or mouse wheel)"),
    ("zoom_out", ("Ctrl+-",), "Zoom out (or mouse wheel)"),
    ("reset_wl", ("R",), "Reset window/level (right-drag on the image adjusts it)"),
    ("set_wl", ("W",), "Set window/level numerically (grayscale)"),
    ("toggle_regions", ("G",), "Show / hide the ultrasound regions"),
    ("open_files", ("Ctrl+O",), "Open DICOM files"),
    ("open_folder", ("Ctrl+Shift+O",), "Open a folder (searched recursively)"),
    ("open_dicomdir", ("Ctrl+Shift+D",), "Open a DICOMDIR (CD/USB export of an ultrasound machine)"),
    ("help", ("F1",), "This list"),
    ("quit", ("Ctrl+Q",), "Quit"),
)


class ShortcutHelpDialog(QDialog):
    """Lists every shortcut of :data:`SHORTCUTS` plus the mouse gestures."""

    MOUSE = (
        ("Wheel", "Zoom about the pointer"),
        ("Left drag", "Pan; drag a caliper or its handles to edit it"),
        ("Right drag", "Window/level (grayscale): horizontal = width, vertical = level"),
        ("Drop files", "Open DICOM files or folders dropped onto the window"),
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("FetalViewer keyboard shortcuts")
        rows = [(" / ".join(keys), text) for _, keys, text in SHORTCUTS] + list(self.MOUSE)
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["Key", "Action"])
        self.table.verticalHeader().hide()
        for r, (key, text) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(key))
            self.table.setItem(r, 1, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(560, 640)
