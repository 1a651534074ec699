"""Metadata panel: patient, study, series, device, frame timing (with its source), regions."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from fetalviewer.ui import theme
from fetalviewer.ui.calibration_view import describe_region


def _fmt_date(value) -> str:
    s = str(value or "")
    return f"{s[0:4]}-{s[4:6]}-{s[6:8]}" if len(s) == 8 and s.isdigit() else s


def format_person_name(value) -> str:
    """DICOM PN (FAMILY^GIVEN^MIDDLE^PREFIX^SUFFIX) as "FAMILY, GIVEN MIDDLE"."""
    parts = [p.strip() for p in str(value or "").split("=")[0].split("^")]
    family = parts[0] if parts else ""
    rest = " ".join(p for p in parts[1:3] if p)
    return f"{family}, {rest}" if family and rest else (family or rest)


def _fmt_time(value) -> str:
    s = str(value or "").split(".")[0]
    return f"{s[0:2]}:{s[2:4]}:{s[4:6]}" if len(s) == 6 and s.isdigit() else str(value or "")


def metadata_sections(loop) -> list[tuple[str, list[tuple[str, str]]]]:
    """The panel's content as (section, [(key, value)]) built from a contract CineLoop."""
    h = loop.header
    t = loop.timing

    def g(name):
        value = getattr(h, name, None) if h is not None else None
        return "" if value is None else str(value)

    sections = [
        ("Patient", [("Name", format_person_name(g("patient_name"))), ("ID", g("patient_id")),
                     ("Birth date", _fmt_date(g("patient_birth_date")))]),
        ("Study", [("Date", _fmt_date(g("study_date"))), ("Time", _fmt_time(g("study_time"))),
                   ("Description", g("study_description")), ("Accession", g("accession_number")),
                   ("Institution", g("institution_name"))]),
        ("Series", [("Description", g("series_description")), ("Modality", str(loop.modality or "")),
                    ("Series UID", str(loop.series_instance_uid or "")),
                    ("SOP UID", str(loop.sop_instance_uid or ""))]),
        ("Device", [("Manufacturer", g("manufacturer")), ("Model", g("model_name")),
                    ("Operator", format_person_name(g("operator_name")))]),
        ("Image", [("Size", f"{loop.columns} × {loop.rows} px"), ("Frames", str(loop.n_frames)),
                   ("Photometric", str(loop.photometric)),
                   ("Transfer syntax", str(loop.transfer_syntax_name or loop.transfer_syntax_uid))]),
    ]
    if t is not None:
        trim = ""
        if t.start_trim is not None or t.stop_trim is not None:
            trim = f"{t.start_trim}–{t.stop_trim}"
        sections.append(("Frame timing", [
            ("Frame time", f"{t.frame_time_ms:.3f} ms" if t.frame_time_ms else "—"),
            ("Frame rate", f"{t.fps:.2f} fps" if t.fps else "—"),
            ("Source", str(t.source)),
            ("Playback", str(t.sequencing)),
            ("Trim (frames)", trim or "all"),
        ]))
    regions = [(f"Region {r.index}", describe_region(r)) for r in loop.regions]
    sections.append(("Regions / calibration", regions or [("—", "no ultrasound regions: not calibrated")]))
    return sections


class MetadataPanel(QTreeWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(2)
        self.setHeaderLabels(["Attribute", "Value"])
        self.setRootIsDecorated(False)
        self.setWordWrap(True)
        self.setFocusPolicy(Qt.ClickFocus)

    def show_instance(self, loop) -> None:
        self.clear()
        if loop is None:
            return
        for section, rows in metadata_sections(loop):
            head = QTreeWidgetItem(self, [section, ""])
            head.setFirstColumnSpanned(True)
            head.setForeground(0, QColor(theme.ACCENT))
            font = head.font(0)
            font.setBold(True)
            head.setFont(0, font)
            for key, value in rows:
                item = QTreeWidgetItem(self, [f"  {key}", value])
                item.setToolTip(1, value)
        self.resizeColumnToContents(0)

    def value_of(self, section: str, key: str) -> str | None:
        """The displayed value of ``key`` in ``section`` (None when absent)."""
        current = None
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            if item.isFirstColumnSpanned():
                current = item.text(0)
            elif current == section and item.text(0).strip() == key:
                return item.text(1)
        return None
