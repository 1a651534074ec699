"""Hostile whole associations against ``fetalviewer receive``, spoken on a raw socket (PS3.8 9.3).

Each case returns the problems it saw in the peer's answer; the caller then checks that the SCP is alive,
answers a C-ECHO, and that the archive and database did not change (:class:`~tests.fuzz.scp_net.NetTarget`).

* ``half-associate``: an A-ASSOCIATE-RQ cut in the middle, then the connection closes;
* ``unknown-caller``: a calling AE title off the allow list gets A-ASSOCIATE-RJ, rejected-permanent,
  "calling AE title not recognised" (PS3.8 9.3.4: result 1, source 1, reason 3);
* ``mid-pdu``: a C-STORE whose last P-DATA-TF PDU is cut in half before the peer disconnects;
* ``oversized-claim``: a P-DATA-TF header claiming almost 4 GiB, 1 MiB of it sent, then a disconnect
  (the SCP may hold no more than what really arrived);
* ``stalled-claim``: the same claim, then silence while another caller asks for a C-ECHO, which must be
  answered while the stalled association still hangs;
* ``garbage``: bytes that are no PDU (an unknown PDU type, PS3.8 9.3.1);
* ``no-dataset``: a C-STORE command that promises a data set, then an A-RELEASE-RQ instead of it;
* ``idle-connections``: 12 TCP connections that never send an A-ASSOCIATE-RQ (more than pynetdicom's default
  of 10 associations at once) while a cart asks for a C-ECHO, which must be answered;
* ``pdv-lie``: a P-DATA-TF PDU whose PDV item claims more bytes than the PDU holds (PS3.8 9.3.5.1);
* ``associate-claim``: an A-ASSOCIATE-RQ header claiming almost 4 GiB, 1 MiB of it, then a disconnect.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from io import BytesIO

from tests.fuzz.scp_net import NetTarget, echo, pdu
from tests.fuzz.scp_process import CALLER_AET, SCP_AET

APPLICATION_CONTEXT = b"1.2.840.10008.3.1.1.1"
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLEMENTATION_UID = b"1.2.826.0.1.3680043.9.7433.1.1"
HUGE = 0xFFFFFFF0


def _item(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(payload)) + payload


def associate_rq(
    calling: str, called: str = SCP_AET, abstract: str = US_IMAGE, syntax: str = EXPLICIT_LE
) -> bytes:
    """A-ASSOCIATE-RQ (PS3.8 9.3.2) with one presentation context (ID 1) and a 16 KiB maximum length."""
    header = struct.pack(">HH", 1, 0) + called.ljust(16).encode() + calling.ljust(16).encode() + b"\0" * 32
    context = _item(0x20, bytes([1, 0, 0, 0]) + _item(0x30, abstract.encode()) + _item(0x40, syntax.encode()))
    user = _item(0x50, _item(0x51, struct.pack(">L", 16384)) + _item(0x52, IMPLEMENTATION_UID))
    return pdu(0x01, header + _item(0x10, APPLICATION_CONTEXT) + context + user)


class RawPeer:
    def __init__(self, port: int, timeout_s: float = 15.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_pdu(self) -> tuple[int, bytes] | None:
        head = self._read(6)
        if len(head) < 6:
            return None
        kind, _, length = struct.unpack(">BBL", head)
        return kind, self._read(length)

    def _read(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                break
            out += chunk
        return out

    def associate(self, calling: str = CALLER_AET) -> tuple[int, bytes] | None:
        self.send(associate_rq(calling))
        return self.read_pdu()

    def close(self) -> None:
        self.sock.close()


def c_store_pdus(body: bytes, max_pdu: int = 16384) -> list[bytes]:
    """The P-DATA-TF PDUs (PS3.8 9.3.5) of a C-STORE-RQ for ``body`` on presentation context 1."""
    from pynetdicom.dimse_messages import C_STORE_RQ
    from pynetdicom.dimse_primitives import C_STORE

    req = C_STORE()
    req.MessageID, req.Priority = 1, 2
    req.AffectedSOPClassUID, req.AffectedSOPInstanceUID = US_IMAGE, "1.2.826.0.1.3680043.9.7433.9.1"
    req.DataSet = BytesIO(body)
    msg = C_STORE_RQ()
    msg.primitive_to_message(req)
    out = []
    for primitive in msg.encode_msg(1, max_pdu):
        items = b"".join(struct.pack(">LB", len(value) + 1, cid) + value
                         for cid, value in primitive.presentation_data_value_list)  # fmt: skip
        out.append(pdu(0x04, items))
    return out


def _established(peer: RawPeer) -> list[str]:
    reply = peer.associate()
    if reply is None or reply[0] != 0x02:
        return [f"the allowed caller was not accepted (reply {reply and hex(reply[0])})"]
    return []


def half_associate(target: NetTarget) -> list[str]:
    peer = RawPeer(target.scp.port)
    data = associate_rq(CALLER_AET)
    peer.send(data[: len(data) // 2])
    peer.close()
    return []


def unknown_caller(target: NetTarget) -> list[str]:
    peer = RawPeer(target.scp.port)
    try:
        reply = peer.associate("INTRUDER")
    finally:
        peer.close()
    if reply is None or reply[0] != 0x03:
        return [f"an unknown calling AE title was not rejected (reply {reply and hex(reply[0])})"]
    result, source, reason = reply[1][1], reply[1][2], reply[1][3]
    if (result, source, reason) != (1, 1, 3):
        return [f"rejected with result {result}, source {source}, reason {reason} (expected 1, 1, 3)"]
    return []


def mid_pdu(target: NetTarget) -> list[str]:
    from tests.net_helpers import tiny_us_dataset

    ds = tiny_us_dataset()
    body = BytesIO()
    ds.save_as(body, implicit_vr=False, little_endian=True)  # data set only: no preamble, no meta
    peer = RawPeer(target.scp.port)
    try:
        problems = _established(peer)
        pdus = c_store_pdus(body.getvalue(), 256)
        for data in pdus[:-1]:
            peer.send(data)
        peer.send(pdus[-1][: len(pdus[-1]) // 2])
    finally:
        peer.close()
    return problems


def oversized_claim(target: NetTarget) -> list[str]:
    peer = RawPeer(target.scp.port)
    before = target.scp.rss_mb()
    try:
        problems = _established(peer)
        peer.send(struct.pack(">BBL", 0x04, 0, HUGE))
        for _ in range(16):
            peer.send(b"\0" * 65536)
    finally:
        peer.close()
    time.sleep(0.5)
    grown = target.scp.rss_mb() - before
    if grown > 256:
        problems.append(f"the SCP grew by {grown:.0f} MB after a 1 MiB PDU that claimed 4 GiB")
    return problems


def stalled_claim(target: NetTarget) -> list[str]:
    peer = RawPeer(target.scp.port)
    try:
        problems = _established(peer)
        peer.send(struct.pack(">BBL", 0x04, 0, HUGE) + b"\0" * 1024)
        start = time.monotonic()
        if not echo(target.scp.port):
            problems.append("no C-ECHO answer while another association stalled mid-PDU")
        elif time.monotonic() - start > 10:
            problems.append(f"the C-ECHO took {time.monotonic() - start:.0f} s beside a stalled association")
    finally:
        peer.close()
    return problems


def garbage(target: NetTarget) -> list[str]:
    peer = RawPeer(target.scp.port)
    try:
        peer.send(b"\x09\x00\x00\x00\x00\x10" + bytes(range(16)))
        reply = peer.read_pdu()  # an A-ABORT (0x07) or the connection closes
    except OSError:
        reply = None
    finally:
        peer.close()
    if reply is not None and reply[0] not in (0x07,):
        return [f"answered an unknown PDU type with PDU type {reply[0]:#04x}"]
    return []


def no_dataset(target: NetTarget) -> list[str]:
    peer = RawPeer(target.scp.port)
    try:
        problems = _established(peer)
        command = c_store_pdus(b"\x08\x00\x20\x00\x02\x00\x00\x00", 16384)[0]  # the command PDU only
        peer.send(command)
        peer.send(pdu(0x05, b"\0\0\0\0"))  # A-RELEASE-RQ
        peer.read_pdu()
    except OSError:
        pass
    finally:
        peer.close()
    return problems


def idle_connections(target: NetTarget) -> list[str]:
    idle = [socket.create_connection(("127.0.0.1", target.scp.port), timeout=5) for _ in range(12)]
    try:
        time.sleep(0.3)
        if not echo(target.scp.port):
            return ["12 idle TCP connections locked the allowed caller out (no C-ECHO answer)"]
    finally:
        for sock in idle:
            sock.close()
    return []


def pdv_lie(target: NetTarget) -> list[str]:
    peer = RawPeer(target.scp.port)
    try:
        problems = _established(peer)
        peer.send(pdu(0x04, struct.pack(">LB", 0x7FFFFFF0, 1) + b"\x03" + b"\0" * 64))
        reply = peer.read_pdu()  # an A-ABORT, or the connection closes
    except OSError:
        reply = None
    finally:
        peer.close()
    if reply is not None and reply[0] != 0x07:
        problems.append(f"answered a lying PDV item with PDU type {reply[0]:#04x}")
    return problems


def associate_claim(target: NetTarget) -> list[str]:
    peer = RawPeer(target.scp.port)
    before = target.scp.rss_mb()
    try:
        peer.send(struct.pack(">BBL", 0x01, 0, HUGE))
        for _ in range(16):
            peer.send(b"\0" * 65536)
    except OSError:
        pass  # the SCP may close first
    finally:
        peer.close()
    time.sleep(0.5)
    grown = target.scp.rss_mb() - before
    return (
        [f"the SCP grew by {grown:.0f} MB after a 1 MiB A-ASSOCIATE-RQ that claimed 4 GiB"]
        if grown > 256
        else []
    )


CASES: dict[str, Callable[[NetTarget], list[str]]] = {
    "half-associate": half_associate,
    "unknown-caller": unknown_caller,
    "mid-pdu": mid_pdu,
    "oversized-claim": oversized_claim,
    "stalled-claim": stalled_claim,
    "garbage": garbage,
    "no-dataset": no_dataset,
    "idle-connections": idle_connections,
    "pdv-lie": pdv_lie,
    "associate-claim": associate_claim,
}


def run_case(target: NetTarget, name: str) -> list[str]:
    """One hostile case, then: the SCP alive and answering, nothing in the archive changed."""
    before = target.snapshot()
    known = set(target.consistency_problems(before))
    problems = [f"{name}: {p}" for p in CASES[name](target)]
    time.sleep(0.2)  # let the SCP notice the closed connection before looking
    problems += [f"{name}: {p}" for p in target.alive_problems()]
    after = target.snapshot()
    problems += [f"{name}: {p}" for p in target.consistency_problems(after) if p not in known]
    if after != before:
        problems.append(f"{name}: the archive changed")
    return problems
