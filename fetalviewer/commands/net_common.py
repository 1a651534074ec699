"""Helpers shared by the study-database and network commands (``studies``, ``nodes``, ``query``,
``retrieve``, ``receive``, ``send``): JSON output (``-`` for stdout) and one-line messages."""

from __future__ import annotations

import json
import sys
from typing import Any

from fetalviewer.atomic import write_text_atomic


def say(text: str) -> None:
    if sys.stdout is not None:
        print(text, flush=True)


def err(text: str) -> None:
    if sys.stderr is not None:
        print(text, file=sys.stderr, flush=True)


def write_json(out: str, data: Any) -> None:
    """Write ``data`` as JSON to the file ``out`` (atomically) or to stdout when ``out`` is ``-``."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    if out == "-":
        if sys.stdout is not None:
            sys.stdout.write(text)
            sys.stdout.flush()
    else:
        write_text_atomic(out, text)
