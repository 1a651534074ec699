"""Screenshots of the network features against a real Orthanc (for looking at the UI):
the start page's study list, the query form with results, and the send status.

    QT_QPA_PLATFORM=offscreen python tools/screenshot_network.py OUT_DIR

Starts Orthanc from the Debian package with a temporary configuration (as the tests do), fills it with
pydicom-data's ultrasound files, and writes study_list.png, query.png and send_status.png into OUT_DIR.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _wait(app, predicate, timeout_s: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)


def main(argv=None) -> int:
    out = Path((argv or sys.argv[1:] or ["."])[0])
    out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="fv-net-shot-"))
    os.environ["FETALVIEWER_HOME"] = str(home / "home")
    from pydicom.data import get_testdata_file

    from fetalviewer.cli import main as cli
    from fetalviewer.settings import update_settings
    from fetalviewer.ui.app import ensure_application
    from tests.net_helpers import write_tiny
    from tests.orthanc_fixture import APP_AET, ORTHANC_AET, run_orthanc

    with run_orthanc(home / "orthanc") as orthanc:
        for name in ("color3d_jpeg_baseline.dcm", "US1_J2KR.dcm", "OBXXXX1A.dcm", "gdcm-US-ALOKA-16.dcm"):
            orthanc.upload(get_testdata_file(name))
        for path in write_tiny(home / "many", 4, study_uid="1.2.826.0.1.3680043.8.498.77", patient_id="QZ-MANY-7"):
            orthanc.upload(path)
        update_settings(local_aet=APP_AET, local_port=orthanc.app_port)
        cli(["nodes", "add", "PACS", "--aet", ORTHANC_AET, "--host", "127.0.0.1", "--port", str(orthanc.dicom_port)])
        studies = [str(s) for s in (get_testdata_file("US1_J2KR.dcm"), get_testdata_file("OBXXXX1A.dcm"))]
        cli(["studies", "--add", *studies])
        cli(["retrieve", "PACS", "1.2.826.0.1.3680043.8.498.77"])

        from fetalviewer.ui.main_window import MainWindow
        from fetalviewer.ui.query_dialog import QueryDialog
        from fetalviewer.ui.send_status import SendToPacsBox

        app = ensure_application()
        win = MainWindow()
        win.resize(1500, 820)
        win.show()
        win.network.refresh()
        _wait(app, lambda: False, 0.5)
        win.grab().save(str(out / "study_list.png"))

        dialog = QueryDialog(win)
        dialog.show()
        dialog.search()
        _wait(app, lambda: dialog.results.topLevelItemCount() > 0)
        first = dialog.results.topLevelItem(0)
        first.setExpanded(True)
        _wait(app, lambda: first.childCount() > 0)
        first.setSelected(True)
        _wait(app, lambda: False, 0.3)
        dialog.grab().save(str(out / "query.png"))

        pdf = home / "report.pdf"
        pdf.write_bytes(b"%PDF-1.4\n1 0 obj<< /Type /Catalog >>endobj\ntrailer<< /Root 1 0 R >>\n%%EOF\n")
        files = [*write_tiny(home / "send", 2, patient_id="SENT"), pdf]
        box = SendToPacsBox(lambda: files)
        box.resize(760, 260)
        box.show()
        box.send()
        _wait(app, lambda: box.send_button.isEnabled() and box.table.rowCount() == 3)
        _wait(app, lambda: False, 0.3)
        box.grab().save(str(out / "send_status.png"))
        win.close()
    print(f"wrote {out / 'study_list.png'}, {out / 'query.png'}, {out / 'send_status.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
