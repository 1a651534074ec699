"""DICOMweb (PS3.18): a client for one node (QIDO-RS search, WADO-RS retrieve, STOW-RS store) with the
node's credentials and bounded timeouts; failures become :class:`NodeError` naming the node."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from fetalviewer.errors import NodeError
from fetalviewer.net.nodes import Node

HTTP_TIMEOUT_S = (8.0, 60.0)  # connect, read


def client(node: Node):
    """A ``dicomweb_client.DICOMwebClient`` for ``node`` (bearer or basic auth on its session)."""
    if not node.has_dicomweb:
        raise NodeError(f"{node.describe()}: has no DICOMweb URL")
    import requests
    from dicomweb_client.api import DICOMwebClient

    session = requests.Session()
    if node.bearer_token:
        session.headers["Authorization"] = f"Bearer {node.bearer_token}"
    elif node.username:
        session.auth = (node.username, node.password or "")
    if node.tls_ca_file:
        session.verify = node.tls_ca_file  # HTTPS: trust the node's own CA (else the system store)
    web = DICOMwebClient(node.dicomweb_url, session=session, timeout=HTTP_TIMEOUT_S)
    web.set_http_retry_params(retry=False)  # a node that is down is said so at once, not after 30 s of retries
    return web


@contextlib.contextmanager
def node_errors(node: Node, what: str) -> Iterator[None]:
    """Turn HTTP and connection failures into one-line :class:`NodeError` messages (no credentials)."""
    import requests

    try:
        yield
    except requests.HTTPError as exc:
        code = getattr(exc.response, "status_code", "?")
        reason = getattr(exc.response, "reason", "") or ""
        raise NodeError(f"{node.describe()}: {what} refused: HTTP {code} {reason}".rstrip()) from exc
    except requests.Timeout as exc:
        raise NodeError(f"{node.describe()}: {what}: no answer in time") from exc
    except requests.ConnectionError as exc:
        raise NodeError(f"{node.describe()}: {what}: cannot connect ({_short(exc)})") from exc
    except requests.RequestException as exc:
        raise NodeError(f"{node.describe()}: {what} failed ({_short(exc)})") from exc


def _short(exc: Exception) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    return text if len(text) < 160 else text[:157] + "..."


#: Transfer syntax "*" asks the origin server for each instance as stored (PS3.18 8.7.3.5.2): no transcoding.
AS_STORED = (("application/dicom", "*"),)
