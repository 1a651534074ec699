"""Logs and crash reports never carry patient identifiers."""

from __future__ import annotations

import logging
import sys

from fetalviewer.crash import write_crash_report
from fetalviewer.logsetup import configure_logging, redact, register_identifiers
from fetalviewer.paths import user_dirs


def test_redact_person_names_keyed_values_and_registered_ids():
    register_identifiers("DOE^JANE", "PID-991234")
    text = redact("opened DOE^JANE id PID-991234 patient_id=XYZ123 jane again")
    assert "DOE" not in text and "PID-991234" not in text and "XYZ123" not in text
    assert "jane" not in text.lower()
    assert "opened" in text


def test_log_file_has_no_patient_identifiers():
    handler = configure_logging()
    register_identifiers("SMITH^ANNA", "ID77665")
    logging.getLogger("fetalviewer.test").warning("loaded %s (%s) from %s", "SMITH^ANNA", "ID77665", "/x/a.dcm")
    handler.flush()
    content = (user_dirs().log_dir / "fetalviewer.log").read_text()
    assert "/x/a.dcm" in content
    assert "SMITH" not in content and "ID77665" not in content and "ANNA" not in content
    logging.getLogger().removeHandler(handler)
    handler.close()


def test_crash_report_written_without_identifiers():
    register_identifiers("ROE^RICHARD")
    try:
        raise RuntimeError("failed on ROE^RICHARD")
    except RuntimeError:
        path = write_crash_report(*sys.exc_info())
    text = path.read_text()
    assert path.parent == user_dirs().log_dir
    assert "RuntimeError" in text and "ROE" not in text and "RICHARD" not in text


def test_registered_identifiers_are_redacted_as_whole_tokens_only():
    # A short registered token must not mangle words or paths that merely contain it (the crash report's
    # path printed by the command line ran through here), while the token itself still goes.
    register_identifiers("QATOKEN^ZED")
    assert redact("/tmp/myqatokenfolder/crash.txt") == "/tmp/myqatokenfolder/crash.txt"
    assert redact("name QATOKEN, given zed.") == "name [redacted], given [redacted]."
    assert redact("id_qatoken-1") == "id_[redacted]-1"
