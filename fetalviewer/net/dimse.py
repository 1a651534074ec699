"""Opening DIMSE associations to a node, with bounded timeouts and TLS, and one error type
(:class:`~fetalviewer.errors.NodeError`) that names the node and why it did not answer."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator

from fetalviewer.errors import NodeError
from fetalviewer.net.nodes import LocalAE, Node

log = logging.getLogger(__name__)

#: Seconds: TCP connect, A-ASSOCIATE reply, each DIMSE reply (C-GET/C-MOVE pending replies come often).
CONNECT_TIMEOUT_S = 8.0
ACSE_TIMEOUT_S = 10.0
DIMSE_TIMEOUT_S = 60.0
#: Largest P-DATA-TF PDU we announce we can receive (PS3.8 D.1). 0 would mean "no limit": a sender would
#: then put a whole cine in one PDU, and every layer of the receiver would copy it whole.
MAX_PDU_BYTES = 1024 * 1024


def client_ssl_context(node: Node, local: LocalAE) -> ssl.SSLContext:
    """A TLS client context (PS3.15 B.1 / BCP 195): the node's or the local CA file, the local
    certificate and key when set (mutual authentication)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=node.tls_ca_file or local.tls_ca_file)
    if local.tls_cert_file:
        ctx.load_cert_chain(local.tls_cert_file, local.tls_key_file)
    return ctx


def server_ssl_context(local: LocalAE) -> ssl.SSLContext | None:
    """The Storage SCP's TLS context when a certificate is configured (callers verified against the CA)."""
    if not local.tls_cert_file:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=local.tls_ca_file)
    ctx.load_cert_chain(local.tls_cert_file, local.tls_key_file)
    if local.tls_ca_file:
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def make_ae(local: LocalAE, dimse_timeout_s: float = DIMSE_TIMEOUT_S):
    from pynetdicom import AE

    ae = AE(ae_title=local.aet)
    ae.connection_timeout = CONNECT_TIMEOUT_S
    ae.acse_timeout = ACSE_TIMEOUT_S
    ae.dimse_timeout = dimse_timeout_s
    ae.network_timeout = dimse_timeout_s
    ae.maximum_pdu_size = MAX_PDU_BYTES
    return ae


def why_unreachable(node: Node) -> str | None:
    """Why a TCP connection to the node fails (None when it connects), so messages say 'refused' etc."""
    try:
        with socket.create_connection((node.host, node.port), timeout=CONNECT_TIMEOUT_S):
            return None
    except TimeoutError:
        return f"no answer from {node.host}:{node.port} within {CONNECT_TIMEOUT_S:.0f} s"
    except ConnectionRefusedError:
        return f"connection refused by {node.host}:{node.port} (nothing listening)"
    except OSError as exc:
        return f"cannot connect to {node.host}:{node.port} ({exc.strerror or exc})"


@contextlib.contextmanager
def associate(node: Node, local: LocalAE, contexts: list, ext_neg: list | None = None,
              evt_handlers: list | None = None, dimse_timeout_s: float = DIMSE_TIMEOUT_S) -> Iterator:  # fmt: skip
    """An established association with ``node`` (released on exit, aborted on error)."""
    if not node.has_dimse:
        raise NodeError(f"{node.describe()}: has no DIMSE address (AE title, host, port)")
    # No TCP probe before associating: an SCP may hold a slot for each bare connection until its ACSE
    # timeout, so a probe per operation can lock a busy peer out. Only a failed association is explained.
    ae = make_ae(local, dimse_timeout_s)
    from pynetdicom import evt

    tls_args = (client_ssl_context(node, local), node.host) if node.tls else None
    replies: list = []
    handlers = [*(evt_handlers or []), (evt.EVT_ACSE_RECV, lambda event: replies.append(event.primitive))]
    try:
        assoc = ae.associate(node.host, node.port, contexts=contexts, ae_title=node.aet, ext_neg=ext_neg,
                             tls_args=tls_args, evt_handlers=handlers)  # fmt: skip
    except (OSError, ssl.SSLError, ValueError, RuntimeError) as exc:
        why = why_unreachable(node)
        raise NodeError(f"{node.describe()}: {why or f'association failed ({exc})'}") from exc
    if assoc.is_rejected:
        reason = _reject_reason(replies)
        raise NodeError(f"{node.describe()}: association rejected ({reason})")
    if not assoc.is_established:
        why = why_unreachable(node)
        if why:
            raise NodeError(f"{node.describe()}: {why}")
        raise NodeError(
            f"{node.describe()}: association not established (aborted or no reply within {ACSE_TIMEOUT_S:.0f} s;"
            f" check the AE titles: we call {node.aet!r} as {local.aet!r})"
        )
    try:
        yield assoc
    except BaseException:
        if assoc.is_established:
            assoc.abort()
        raise
    else:
        if assoc.is_established:
            assoc.release()


def _reject_reason(replies: list) -> str:
    """PS3.8 9.3.4: the A-ASSOCIATE-RJ's source and reason in words."""
    for rsp in replies:
        if getattr(rsp, "result", None) in (0x01, 0x02):
            return f"{rsp.reason_str} ({rsp.source_str}, {rsp.result_str})"
    return "no reason given"


def status_text(status) -> str:
    """``0xA700 (Failure)``-style text of a DIMSE status dataset (or a note when there is none)."""
    if status is None or "Status" not in status:
        return "no reply (connection lost or timed out)"
    from pynetdicom.status import code_to_category

    code = int(status.Status)
    return f"0x{code:04X} ({code_to_category(code)})"
