"""Verification: C-ECHO (PS3.7 9.1.5) for DIMSE nodes, a one-result QIDO-RS search for DICOMweb nodes."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fetalviewer.errors import NodeError
from fetalviewer.net.audit import audit
from fetalviewer.net.nodes import LocalAE, Node


@dataclass(frozen=True)
class EchoResult:
    node: str
    protocol: str  # "DIMSE" or "DICOMweb"
    round_trip_ms: float


def echo(node: Node, local: LocalAE) -> list[EchoResult]:
    """Verify every protocol the node has; raises :class:`NodeError` naming the node and the reason."""
    results = []
    if node.has_dimse:
        from fetalviewer.net.dimse import associate, status_text

        start = time.perf_counter()
        with associate(node, local, _verification_contexts(), dimse_timeout_s=10.0) as assoc:
            status = assoc.send_c_echo()
        if status is None or status.get("Status") != 0x0000:
            raise NodeError(f"{node.describe()}: C-ECHO failed, status {status_text(status)}")
        results.append(EchoResult(node.name, "DIMSE", (time.perf_counter() - start) * 1000))
    if node.has_dicomweb:
        from fetalviewer.net.dicomweb import client, node_errors

        start = time.perf_counter()
        with node_errors(node, "QIDO-RS search"):
            client(node).search_for_studies(limit=1)
        results.append(EchoResult(node.name, "DICOMweb", (time.perf_counter() - start) * 1000))
    audit("echo", node.name, outcome="ok")
    return results


def _verification_contexts() -> list:
    from pynetdicom.presentation import build_context
    from pynetdicom.sop_class import Verification

    return [build_context(Verification)]
