"""Retrieve studies into the archive and the database: C-GET (PS3.4 C.4.3, storage on the same
association with SCP role selection, PS3.7 D.3.3.4), C-MOVE (PS3.4 C.4.2, to a temporary Storage SCP on
the local AE's port) or WADO-RS (PS3.18 10.4, each instance as stored). Progress after every instance;
cooperative cancel (a :class:`threading.Event`): the association is aborted, instances already complete
stay (archived and indexed), nothing half-written is left.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fetalviewer.errors import NodeError
from fetalviewer.net.audit import audit
from fetalviewer.net.nodes import LocalAE, Node
from fetalviewer.net.storing import StoreHandler

VIAS = ("get", "move", "wado")
Progress = Callable[[int, int | None], None]  # (instances done, total when known)


@dataclass
class RetrieveResult:
    stored: int = 0
    failed: int = 0
    cancelled: bool = False
    study_uids: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)


def default_via(node: Node) -> str:
    return "get" if node.has_dimse else "wado"


def retrieve(node: Node, local: LocalAE, study_uids: Sequence[str], db, via: str | None = None,
             progress: Progress | None = None, cancel: threading.Event | None = None) -> RetrieveResult:  # fmt: skip
    """Retrieve every study in ``study_uids`` from ``node``; raises :class:`NodeError` when the node is
    down or refuses (instances stored before the failure stay)."""
    via = via or default_via(node)
    if via not in VIAS:
        raise ValueError(f"--via {via!r} is not one of {', '.join(VIAS)}")
    if via in ("get", "move") and not node.has_dimse:
        raise NodeError(f"{node.describe()}: C-{via.upper()} needs a DIMSE node; use --via wado")
    if via == "wado" and not node.has_dicomweb:
        raise NodeError(f"{node.describe()}: WADO-RS needs a DICOMweb URL; use --via get or move")
    cancel = cancel or threading.Event()
    result = RetrieveResult()
    handler = StoreHandler(db, f"node:{node.name}", node.name, expected_studies=set(study_uids))
    try:
        for uid in study_uids:
            if cancel.is_set():
                break
            run = {"get": _c_get, "move": _c_move, "wado": _wado}[via]
            failed = run(node, local, uid, handler, progress, cancel)
            result.failed += failed
    finally:
        handler.close()
        result.stored = handler.tally.stored
        result.failed += handler.tally.refused
        result.study_uids = handler.tally.study_uids
        result.problems = handler.tally.problems
        result.cancelled = cancel.is_set()
        for uid in study_uids:
            audit(f"retrieve-{via}", node.name, uid, outcome="cancelled" if result.cancelled else "done",
                  stored=result.stored)  # fmt: skip
    return result


def _identifier(study_uid: str):
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = study_uid
    return ds


def _counts(status) -> tuple[int, int | None]:
    done = sum(int(status.get(k, 0) or 0) for k in ("NumberOfCompletedSuboperations",
                                                    "NumberOfFailedSuboperations",
                                                    "NumberOfWarningSuboperations"))  # fmt: skip
    remaining = status.get("NumberOfRemainingSuboperations", None)
    return done, None if remaining is None else done + int(remaining)


def _drive(node: Node, what: str, responses, handler: StoreHandler, progress: Progress | None,
           cancel: threading.Event, assoc) -> int:  # fmt: skip
    """Walk the pending/final responses of a C-GET/C-MOVE; returns the failed sub-operation count."""
    from fetalviewer.net.dimse import status_text

    for status, _ in responses:
        if status is None or "Status" not in status:
            raise NodeError(f"{node.describe()}: {what}: no reply (connection lost or timed out)")
        code = int(status.Status)
        if progress is not None:
            progress(*_counts(status))
        if cancel.is_set():
            handler.close()
            assoc.abort()
            return 0
        if code in (0xFF00, 0xFF01):
            continue
        failed = int(status.get("NumberOfFailedSuboperations", 0) or 0)
        if code in (0x0000, 0xB000, 0xFE00):
            return failed
        raise NodeError(f"{node.describe()}: {what} failed, status {status_text(status)}")
    return 0


def _c_get(node, local, study_uid, handler, progress, cancel) -> int:
    from pynetdicom import evt
    from pynetdicom.pdu_primitives import SCP_SCU_RoleSelectionNegotiation
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet as GET

    from fetalviewer.net.contexts import requested_contexts, storage_pairs
    from fetalviewer.net.dimse import associate

    pairs = storage_pairs()
    roles = []
    for sop_class in dict.fromkeys(c for c, _ in pairs):
        role = SCP_SCU_RoleSelectionNegotiation()
        role.sop_class_uid, role.scu_role, role.scp_role = sop_class, False, True
        roles.append(role)
    with associate(node, local, requested_contexts(pairs, (GET,)), ext_neg=roles,
                   evt_handlers=[(evt.EVT_C_STORE, handler)]) as assoc:  # fmt: skip
        return _drive(node, "C-GET", assoc.send_c_get(_identifier(study_uid), GET), handler, progress,
                      cancel, assoc)  # fmt: skip


def _c_move(node, local, study_uid, handler, progress, cancel) -> int:
    from pynetdicom import evt
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove as MOVE

    from fetalviewer.net.contexts import requested_contexts, supported_storage_contexts
    from fetalviewer.net.dimse import associate, make_ae, server_ssl_context

    listener_ae = make_ae(local)
    try:
        server = listener_ae.start_server((local.bind_host, local.port), block=False,
                                          contexts=supported_storage_contexts(),
                                          ssl_context=server_ssl_context(local),
                                          evt_handlers=[(evt.EVT_C_STORE, handler)])  # fmt: skip
    except OSError as exc:
        raise NodeError(f"C-MOVE needs the local port {local.port} to receive on, but it is busy ({exc})") from exc
    try:
        with associate(node, local, requested_contexts([], (MOVE,))) as assoc:
            return _drive(node, "C-MOVE", assoc.send_c_move(_identifier(study_uid), local.aet, MOVE), handler,
                          progress, cancel, assoc)  # fmt: skip
    finally:
        server.shutdown()


def _wado(node, local, study_uid, handler, progress, cancel) -> int:
    from pydicom.dataset import Dataset

    from fetalviewer.net.dicomweb import AS_STORED, client, node_errors

    web = client(node)
    with node_errors(node, "QIDO-RS instance search"):
        found = web.search_for_instances(study_instance_uid=study_uid,
                                         fields=["SeriesInstanceUID", "SOPInstanceUID"])  # fmt: skip
    items = [Dataset.from_json(f) for f in found]
    failed = 0
    for k, item in enumerate(items, start=1):
        if cancel.is_set():
            break
        with node_errors(node, f"WADO-RS of instance {item.SOPInstanceUID}"):
            ds = web.retrieve_instance(study_uid, str(item.SeriesInstanceUID), str(item.SOPInstanceUID),
                                       media_types=AS_STORED)  # fmt: skip
        if not store_dataset(handler, ds, node):
            failed += 1
        if progress is not None:
            progress(k, len(items))
    return failed


def part10_parts(ds) -> tuple[bytes, bytes]:
    """(file meta group, data set) bytes of ``ds`` encoded as a Part 10 file in its own transfer syntax."""
    from io import BytesIO

    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    full = buf.getvalue()
    meta_end = 132 + 12 + int.from_bytes(full[140:144], "little")  # (0002,0000) group length, PS3.10 7.1
    return full[132:meta_end], full[meta_end:]


def store_dataset(handler: StoreHandler, ds, node: Node) -> bool:
    """Store a dataset that arrived decoded (WADO-RS) through the same checks as a C-STORE."""
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.net.validate import describe_instance, validate_received

    with handler._busy:
        if handler._closed:
            return False
        try:
            validate_received(ds, f"instance {describe_instance(ds)} from {node.describe()}")
            meta, body = part10_parts(ds)
            handler.db.store_received(meta, body, ds, handler.source)
        except (FetalViewerError, ValueError, TypeError, AttributeError) as exc:
            handler.tally.refused += 1
            handler.tally.problems.append(str(exc))
            return False
        handler.tally.stored += 1
        handler.tally.study_uids.add(str(ds.StudyInstanceUID))
    return True
