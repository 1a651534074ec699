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


def node_and_local(name: str, aet: str | None = None, port: int | None = None):
    """(the configured node called ``name``, the local AE from the settings with overrides); an unknown
    node is a :class:`~fetalviewer.errors.UsageError` listing the configured names."""
    from fetalviewer.errors import UsageError
    from fetalviewer.net.nodes import NodeStore, local_ae_from_settings

    try:
        node = NodeStore().get(name)
        local = local_ae_from_settings().with_overrides(aet=aet, port=port)
    except (KeyError, ValueError) as exc:
        raise UsageError(str(exc.args[0] if isinstance(exc, KeyError) else exc)) from exc
    return node, local


def start_log() -> None:
    """Network commands keep their audit lines (and pynetdicom's) in the app's log file."""
    from fetalviewer.logsetup import configure_logging

    configure_logging()
