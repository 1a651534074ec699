"""One C-STORE handler for everything that arrives (C-GET sub-operations, the C-MOVE listener, the
Storage SCP): check the caller, validate, write atomically into the archive, index, count.

Statuses (PS3.4 B.2.3): 0x0000 stored; 0x0124 refused, caller not authorised; 0xA700 refused, out of
resources (also while cancelling); 0xC000 cannot understand (validation failed). A refused instance leaves
nothing behind: the file is renamed into place only when complete, and the database row follows it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO

from fetalviewer.errors import FetalViewerError
from fetalviewer.net.audit import audit

log = logging.getLogger(__name__)

OK, NOT_AUTHORISED, OUT_OF_RESOURCES, CANNOT_UNDERSTAND = 0x0000, 0x0124, 0xA700, 0xC000


@dataclass
class StoreTally:
    stored: int = 0
    refused: int = 0
    study_uids: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


class StoreHandler:
    """Handles ``EVT_C_STORE``; ``source`` is recorded in the database (``node:NAME`` or ``receive:AET``)."""

    def __init__(self, db, source: str, node_name: str, allow_hosts: tuple[str, ...] = (),
                 expected_studies: set[str] | None = None,
                 on_stored: Callable[[str, str], None] | None = None) -> None:  # fmt: skip
        self.db, self.source, self.node_name = db, source, node_name
        self.allow_hosts, self.expected_studies, self.on_stored = allow_hosts, expected_studies, on_stored
        self.tally = StoreTally()
        self._busy = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """Refuse every later C-STORE and wait for the one being written (so DB and archive agree)."""
        with self._busy:
            self._closed = True

    def __call__(self, event) -> int:
        from pydicom.filewriter import write_file_meta_info

        requestor = event.assoc.requestor
        caller = f"{requestor.ae_title}@{requestor.address}"
        if self.allow_hosts and requestor.address not in self.allow_hosts:
            return self._refuse(NOT_AUTHORISED, f"{caller}: host not in the allow list")
        with self._busy:
            if self._closed:
                return self._refuse(OUT_OF_RESOURCES, f"{caller}: cancelled, instance not stored")
            try:
                from fetalviewer.net.validate import decode_received, describe_instance, validate_received

                ds = decode_received(event, caller)

                source = f"instance {describe_instance(ds)} from {caller}"
                validate_received(ds, source)
                study = str(ds.StudyInstanceUID)
                if self.expected_studies is not None and study not in self.expected_studies:
                    return self._refuse(CANNOT_UNDERSTAND, f"{source}: study {study} was not asked for")
                meta = BytesIO()
                write_file_meta_info(meta, event.file_meta, enforce_standard=True)
                path = self.db.store_received(meta.getvalue(), event.request.DataSet.getvalue(), ds, self.source)
            except (FetalViewerError, ValueError, TypeError, KeyError, AttributeError, EOFError) as exc:
                return self._refuse(CANNOT_UNDERSTAND, f"{caller}: {exc}")
            except OSError as exc:
                return self._refuse(OUT_OF_RESOURCES, f"{caller}: cannot write ({exc})")
            self.tally.stored += 1
            self.tally.study_uids.add(study)
        audit("store-received", self.node_name, study, outcome="ok", caller=caller)
        if self.on_stored is not None:
            self.on_stored(study, str(path))
        return OK

    def _refuse(self, status: int, why: str) -> int:
        self.tally.refused += 1
        self.tally.problems.append(why)
        log.warning("refused C-STORE: %s", why)
        return status
