"""One C-STORE handler for everything that arrives (C-GET sub-operations, the C-MOVE listener, the
Storage SCP): check the caller, stage the bytes as received in the archive folder, decode and validate
the staged copy, rename it into place, index, count. Staging first means a cine is held in memory once
(decoded for the checks), not also as the received bytes.

Statuses (PS3.4 B.2.3): 0x0000 stored; 0x0124 refused, caller not authorised; 0xA700 refused, out of
resources (also while cancelling); 0xC000 cannot understand (validation failed). A refused instance leaves
nothing behind: the staged file is removed, and a stored one is renamed into place only when complete
and checked, the database row following it.
"""

from __future__ import annotations

import logging
import sqlite3
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
        requestor = event.assoc.requestor
        caller = f"{requestor.ae_title}@{requestor.address}"
        if self.allow_hosts and requestor.address not in self.allow_hosts:
            return self._refuse(NOT_AUTHORISED, f"{caller}: host not in the allow list")
        with self._busy:
            if self._closed:
                return self._refuse(OUT_OF_RESOURCES, f"{caller}: cancelled, instance not stored")
            staged = None
            try:
                staged = self._stage(event)
                path, study = self._file(staged, caller)
            except (FetalViewerError, ValueError, TypeError, KeyError, AttributeError, EOFError) as exc:
                return self._refuse(CANNOT_UNDERSTAND, f"{caller}: {exc}")
            except (OSError, sqlite3.Error) as exc:
                return self._refuse(OUT_OF_RESOURCES, f"{caller}: cannot write ({exc})")
            finally:
                if staged is not None:  # refused: the staged copy goes; stored: it was renamed already
                    staged.unlink(missing_ok=True)
            self.tally.stored += 1
            self.tally.study_uids.add(study)
        audit("store-received", self.node_name, study, outcome="ok", caller=caller)
        if self.on_stored is not None:
            self.on_stored(study, str(path))
        return OK

    def _stage(self, event):
        """Write the data set as received (byte for byte, behind a file meta group for its presentation
        context) to a hidden file in the archive folder, and drop it from memory."""
        from pydicom.filewriter import write_file_meta_info

        meta = BytesIO()
        write_file_meta_info(meta, event.file_meta, enforce_standard=True)
        received = event.request.DataSet
        with received.getbuffer() as body:
            staged = self.db.stage(meta.getvalue(), body)
        received.close()  # the bytes are on disk now: a cine is not held twice while it is checked
        return staged

    def _file(self, staged, caller: str) -> tuple[object, str]:
        """Decode and check the staged copy, then file it; (archive path, study UID)."""
        from fetalviewer.net.validate import decode_staged, describe_instance, validate_received

        ds = decode_staged(staged, caller)
        source = f"instance {describe_instance(ds)} from {caller}"
        validate_received(ds, source)
        study = str(ds.StudyInstanceUID)
        if self.expected_studies is not None and study not in self.expected_studies:
            raise ValueError(f"{source}: study {study} was not asked for")
        return self.db.file_staged(staged, ds, self.source), study

    def _refuse(self, status: int, why: str) -> int:
        self.tally.refused += 1
        self.tally.problems.append(why)
        log.warning("refused C-STORE: %s", why)
        return status
