"""Audit lines for network operations (who, what, which study UID, which node), after the spirit of
the DICOM audit trail (PS3.15 A.5: user, action, study, participant). Never patient names or credentials."""

from __future__ import annotations

import getpass
import logging

AUDIT = logging.getLogger("fetalviewer.audit")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment
        return "unknown"


def audit(action: str, node: str, study_uid: str = "-", outcome: str = "ok", **details: object) -> str:
    """Log one audit line at INFO and return it: ``audit user=.. action=.. study=.. node=.. outcome=..``."""
    extra = "".join(f" {k}={v}" for k, v in details.items())
    line = f"audit user={_user()} action={action} study={study_uid} node={node} outcome={outcome}{extra}"
    AUDIT.info("%s", line)
    return line
