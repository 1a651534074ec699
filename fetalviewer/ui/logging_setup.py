"""Log to a rotating file in the user's log folder. Messages never carry patient names or IDs:
the window logs file names, SOP/Study UIDs, counts and errors only."""

from __future__ import annotations

import logging
import logging.handlers

from fetalviewer.paths import user_dirs

_HANDLER_NAME = "fetalviewer-file"


def setup_logging(level: int = logging.INFO) -> str:
    """Attach (once) a rotating file handler to the ``fetalviewer`` logger; returns the log file path."""
    path = user_dirs().log_dir / "fetalviewer.log"
    logger = logging.getLogger("fetalviewer")
    for h in logger.handlers:
        if h.get_name() == _HANDLER_NAME:
            if getattr(h, "baseFilename", None) == str(path):
                return str(path)
            logger.removeHandler(h)
            h.close()
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    return str(path)
