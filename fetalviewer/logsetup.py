"""Logging to the per-user log folder, with patient identifiers kept out of every record.

Log records pass through :class:`PhiRedactingFilter`, which replaces DICOM person names
(``FAMILY^GIVEN``), values registered with :func:`register_identifiers` (patient names and IDs
of opened studies) and key=value pairs of identifying attributes with ``[redacted]``. Callers
should not log identifiers in the first place; the filter is the safety net.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
import threading

from fetalviewer.paths import user_dirs

LOG_FILE_NAME = "fetalviewer.log"
_PERSON_NAME = re.compile(r"\b[\w'-]+\^[\w'^ -]*")
_KEYED = re.compile(
    r"(?i)\b(patient_?name|patient_?id|patientname|patientid|birth_?date|accession_?number)"
    r"(\s*[=:]\s*)('[^']*'|\"[^\"]*\"|\S+)"
)
_identifiers: set[str] = set()
_lock = threading.Lock()


def register_identifiers(*values: object) -> None:
    """Remember identifying strings (patient name, ID, ...) so that they never reach a log file."""
    with _lock:
        for value in values:
            text = str(value or "").strip()
            if len(text) >= 3:
                _identifiers.add(text)
                _identifiers.update(part for part in re.split(r"[\^ ]+", text) if len(part) >= 3)


def redact(text: str) -> str:
    """Return ``text`` with person names, registered identifiers and keyed identifiers replaced."""
    text = _KEYED.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    text = _PERSON_NAME.sub("[redacted]", text)
    with _lock:
        pattern = whole_token_pattern(_identifiers)
    return text if pattern is None else pattern.sub("[redacted]", text)


def whole_token_pattern(values) -> re.Pattern | None:
    """One case-insensitive pattern that finds any of ``values`` as a whole token (None for no values).

    A match may not touch a letter or digit on either side; punctuation, spaces and ``_`` end a token,
    so a registered "TEST" is found in "id_test-1" but not in "pytest". Longer values are tried first.
    Shared by the log redaction and the de-identification leak check (one rule for both).
    """
    values = sorted({str(v) for v in values if str(v)}, key=len, reverse=True)
    if not values:
        return None
    return re.compile(
        rf"(?<![^\W_])(?:{'|'.join(re.escape(v) for v in values)})(?![^\W_])", re.IGNORECASE
    )


class PhiRedactingFilter(logging.Filter):
    """A logging filter that formats the message and removes patient identifiers from it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def configure_logging(level: int = logging.INFO, console: bool = False) -> logging.Handler:
    """Send the app's logs to a rotating file in the log folder (and stderr when ``console``).

    Safe in a windowed frozen build where ``sys.stderr`` is None.
    """
    log_path = user_dirs().log_dir / LOG_FILE_NAME
    handler = logging.handlers.RotatingFileHandler(log_path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PhiRedactingFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_fetalviewer", False)]:
        root.removeHandler(old)
        old.close()
    handler._fetalviewer = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if console and sys.stderr is not None:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        stream.addFilter(PhiRedactingFilter())
        stream._fetalviewer = True  # type: ignore[attr-defined]
        root.addHandler(stream)
    root.setLevel(level)
    return handler
