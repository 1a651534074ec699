"""The Storage SCP (PS3.4 B.2, with Verification): receives from ultrasound machines and other nodes.

Only callers whose AE title is in the allow list may associate (others get A-ASSOCIATE-RJ "calling AE
title not recognised", PS3.8 9.3.4); with an allow list of hosts, C-STOREs from other hosts are refused
(0x0124). Every instance is validated, written atomically into the archive and indexed (see
:mod:`fetalviewer.net.storing`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fetalviewer.errors import NodeError
from fetalviewer.net.audit import audit
from fetalviewer.net.nodes import LocalAE
from fetalviewer.net.storing import StoreHandler, StoreTally

log = logging.getLogger(__name__)

#: Associations served at once. pynetdicom's default of 10 let ten idle TCP connections (no A-ASSOCIATE-RQ,
#: no AE title needed) lock every cart out, each for the whole ACSE timeout even after it closed; a ward's
#: carts and nodes need far fewer than this many at a time.
MAX_ASSOCIATIONS = 32


class StorageServer:
    """A background Storage SCP; :meth:`start` binds, :meth:`stop` closes (instances already complete stay)."""

    def __init__(self, local: LocalAE, db, on_stored: Callable[[str, str], None] | None = None) -> None:
        if not local.allow_aets:
            raise ValueError("no calling AE title is allowed: give at least one (or '*' for any caller)")
        self.local, self.db = local, db
        self.handler = StoreHandler(db, f"receive:{local.aet}", f"receiver:{local.aet}",
                                    allow_hosts=local.allow_hosts, on_stored=on_stored)  # fmt: skip
        self._server = None

    @property
    def tally(self) -> StoreTally:
        return self.handler.tally

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server is not None else self.local.port

    def start(self) -> StorageServer:
        from pynetdicom import evt
        from pynetdicom.presentation import build_context
        from pynetdicom.sop_class import Verification

        from fetalviewer.net.contexts import supported_storage_contexts
        from fetalviewer.net.dimse import make_ae, server_ssl_context

        ae = make_ae(self.local)
        ae.maximum_associations = MAX_ASSOCIATIONS
        if "*" not in self.local.allow_aets:
            ae.require_calling_aet = list(self.local.allow_aets)
        contexts = [*supported_storage_contexts(), build_context(Verification)]
        try:
            self._server = ae.start_server(
                (self.local.bind_host, self.local.port), block=False, contexts=contexts,
                ssl_context=server_ssl_context(self.local),
                evt_handlers=[(evt.EVT_C_STORE, self.handler), (evt.EVT_REJECTED, _log_rejected)],
            )  # fmt: skip
        except OSError as exc:
            raise NodeError(f"cannot listen on port {self.local.port} as {self.local.aet} ({exc})") from exc
        audit("receive-start", f"local:{self.local.aet}", outcome="ok", port=self.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.handler.close()
            self._server.shutdown()
            self._server = None
            audit("receive-stop", f"local:{self.local.aet}", outcome="ok", stored=self.tally.stored,
                  refused=self.tally.refused)  # fmt: skip


def _log_rejected(event) -> None:
    requestor = event.assoc.requestor
    audit("association-rejected", f"{requestor.ae_title}@{requestor.address}", outcome="refused")
