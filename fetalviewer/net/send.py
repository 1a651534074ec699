"""Sending files to a node: C-STORE (PS3.4 B.2; one presentation context per SOP class and transfer
syntax the files really have, so nothing is transcoded) or STOW-RS (PS3.18 10.5). Every file gets its own
status; a refused file is reported, never dropped silently.

Only headers are read up front (no pixel data). C-STORE streams each file's data set from disk as stored
(pynetdicom's chunked sending, in PDUs no larger than the peer accepts), so memory does not grow with the
size of a cine; STOW-RS reads one whole file at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fetalviewer.errors import NodeError
from fetalviewer.net.audit import audit
from fetalviewer.net.nodes import LocalAE, Node


@dataclass(frozen=True)
class SendStatus:
    """What happened to one file: ``ok`` False carries the reason."""

    path: str
    sop_instance_uid: str
    ok: bool
    detail: str
    study_instance_uid: str = ""

    def to_json(self) -> dict:
        return {"path": self.path, "sop_instance_uid": self.sop_instance_uid, "ok": self.ok, "detail": self.detail,
                "study_instance_uid": self.study_instance_uid}


@dataclass(frozen=True)
class Outgoing:
    """One file to send, with the header values the sending needs (validated when the file is read)."""

    path: str
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    study_instance_uid: str

    @property
    def pair(self) -> tuple[str, str]:
        return self.sop_class_uid, self.transfer_syntax_uid

    @classmethod
    def read(cls, path: str | Path) -> Outgoing:
        """The file's header (no pixel data); ValueError with the reason when it is not sendable DICOM."""
        import warnings

        import pydicom

        from fetalviewer.studydb import is_valid_uid

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a damaged value is reported below, not warned about
                ds = pydicom.dcmread(path, stop_before_pixels=True)
                values = {
                    "SOP class UID": str(ds.get("SOPClassUID", "") or ""),
                    "SOP instance UID": str(ds.get("SOPInstanceUID", "") or ""),
                    "transfer syntax UID": str(ds.file_meta.get("TransferSyntaxUID", "") or ""),
                }
                study = str(ds.get("StudyInstanceUID", "") or "")
        except Exception as exc:  # noqa: BLE001 - any damage to the header: the file is reported, not sent
            raise ValueError(f"not readable as DICOM ({type(exc).__name__}: {exc})") from None
        bad = [name for name, value in values.items() if not is_valid_uid(value)]
        if bad:
            raise ValueError(f"no valid {', '.join(bad)}")
        if not pydicom.uid.UID(values["transfer syntax UID"]).is_transfer_syntax:
            raise ValueError(
                f"transfer syntax {values['transfer syntax UID']} is not one this application knows, so it cannot "
                "be offered to the node"
            )
        return cls(str(path), *values.values(), study if is_valid_uid(study) else "")


def send_files(node: Node, local: LocalAE, paths: Sequence[str | Path], via: str | None = None,
               progress: Callable[[SendStatus], None] | None = None,
               cancel: threading.Event | None = None) -> list[SendStatus]:  # fmt: skip
    """Send every DICOM file under ``paths``; raises :class:`NodeError` only when the node cannot be
    reached at all (then nothing was sent)."""
    from fetalviewer.studydb.db import walk_files

    via = via or ("dimse" if node.has_dimse else "stow")
    cancel = cancel or threading.Event()
    statuses: list[SendStatus] = []
    readable: list[Outgoing] = []
    for path in walk_files(paths):
        try:
            readable.append(Outgoing.read(path))
        except (OSError, ValueError) as exc:
            statuses.append(_report(SendStatus(str(path), "", False, f"not sent: {exc}"), progress))
    if not readable and not statuses:
        raise ValueError(f"no file found in {', '.join(map(str, paths))}")
    if readable:
        sender = _c_store if via == "dimse" else _stow
        statuses += sender(node, local, readable, progress, cancel)
    for study in sorted({item.study_instance_uid or "-" for item in readable}):
        sent = sum(1 for s in statuses if s.ok)
        audit(f"send-{via}", node.name, study, outcome="ok" if all(s.ok for s in statuses) else "partial",
              sent=sent, failed=len(statuses) - sent)  # fmt: skip
    return statuses


def _report(status: SendStatus, progress) -> SendStatus:
    if progress is not None:
        progress(status)
    return status


def _c_store(node, local, items, progress, cancel) -> list[SendStatus]:
    from pynetdicom import _config

    from fetalviewer.net.dimse import why_unreachable

    # send_c_store(path) then streams the data set bytes from the file instead of decoding and re-encoding
    # the whole instance; only this module sends from paths, so the process-wide switch changes nothing else.
    _config.STORE_SEND_CHUNKED_DATASET = True
    out = []
    pairs = list(dict.fromkeys(item.pair for item in items))
    for start in range(0, len(pairs), 128):
        chunk = set(pairs[start : start + 128])
        todo = [item for item in items if item.pair in chunk]
        reported = len(out)
        try:
            _store_chunk(node, local, todo, progress, cancel, out)
        except NodeError as exc:
            if len(out) == 0 and why_unreachable(node):  # nothing sent and the node is down: one message
                raise
            done = {s.path for s in out[reported:]}
            for item in todo:  # the node is up but would not take these: each file says so
                if item.path not in done:
                    out.append(_report(SendStatus(item.path, item.sop_instance_uid, False, f"not sent: {exc}"),
                                       progress))  # fmt: skip
    return out


def _store_chunk(node, local, todo: list[Outgoing], progress, cancel, out: list[SendStatus]) -> None:
    """C-STORE ``todo`` (files of up to 128 SOP class / transfer syntax pairs) on one association."""
    from fetalviewer.net.contexts import requested_contexts
    from fetalviewer.net.dimse import associate, status_text

    pairs = list(dict.fromkeys(item.pair for item in todo))
    with associate(node, local, requested_contexts(pairs)) as assoc:
        accepted = {(cx.abstract_syntax, cx.transfer_syntax[0]) for cx in assoc.accepted_contexts}
        for item in todo:
            path, uid, pair = item.path, item.sop_instance_uid, item.pair
            if cancel.is_set():
                out.append(_report(SendStatus(str(path), uid, False, "not sent: cancelled"), progress))
                continue
            if pair not in accepted:
                why = f"not sent: {node.name} does not accept this SOP class in transfer syntax {pair[1]}"
                out.append(_report(SendStatus(str(path), uid, False, why + " (not transcoded)"), progress))
                continue
            try:
                status = assoc.send_c_store(Path(path))
            except Exception as exc:  # noqa: BLE001 - a file pynetdicom cannot read or send is reported
                out.append(_report(SendStatus(str(path), uid, False, f"not sent: {type(exc).__name__}: {exc}"),
                                   progress))  # fmt: skip
                if not assoc.is_established:  # the association did not survive it: the rest are not sent
                    raise NodeError(f"{node.describe()}: the association ended while sending {path}") from exc
                continue
            code = None if status is None else status.get("Status")
            ok = code is not None and (code == 0 or code in (0xB000, 0xB007, 0xB006))
            detail = f"stored ({status_text(status)})" if ok else f"refused: status {status_text(status)}"
            out.append(_report(SendStatus(str(path), uid, ok, detail, item.study_instance_uid), progress))


def _stow(node, local, items, progress, cancel) -> list[SendStatus]:
    import pydicom

    from fetalviewer.net.dicomweb import client, node_errors

    web = client(node)
    out = []
    for item in items:
        path, uid = item.path, item.sop_instance_uid
        if cancel.is_set():
            out.append(_report(SendStatus(str(path), uid, False, "not sent: cancelled"), progress))
            continue
        try:
            dataset = pydicom.dcmread(path)  # one whole instance at a time
        except Exception as exc:  # noqa: BLE001 - a damaged file is reported, the others still go
            out.append(_report(SendStatus(str(path), uid, False, f"not sent: {type(exc).__name__}: {exc}"), progress))
            continue
        try:
            with node_errors(node, "STOW-RS"):
                reply = web.store_instances([dataset])
        except NodeError as exc:
            if not out:  # the first file could not be sent at all: the node is down or refuses
                raise
            out.append(_report(SendStatus(str(path), uid, False, f"refused: {exc}"), progress))
            continue
        failed = reply.get("FailedSOPSequence", []) if reply is not None else []
        if failed:
            reason = failed[0].get("FailureReason", "?")
            out.append(_report(SendStatus(str(path), uid, False, f"refused: failure reason {reason}"), progress))
        else:
            out.append(_report(SendStatus(str(path), uid, True, "stored (STOW-RS)", item.study_instance_uid), progress))
    return out
