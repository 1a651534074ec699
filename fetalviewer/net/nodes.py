"""Remote DICOM nodes (PACS, modalities) and the local application entity.

A node speaks DIMSE (PS3.7/PS3.8: AE title, host, port, optionally TLS per PS3.15 B.1) and/or DICOMweb
(PS3.18: a base URL, optionally with a bearer token or basic credentials). Nodes live in
``<config>/nodes.json`` (written atomically, readable by the user only because it may hold credentials).
Credentials never appear in ``repr``, logs or ``nodes list``: :meth:`Node.public` leaves them out.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

from fetalviewer.atomic import write_text_atomic
from fetalviewer.paths import user_dirs

log = logging.getLogger(__name__)

#: PS3.5 6.2: AE titles are at most 16 characters of the default repertoire, no backslash or control.
_AET = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DEFAULT_LOCAL_AET = "FETALVIEWER"
DEFAULT_LOCAL_PORT = 11112


def check_aet(aet: str, what: str = "AE title") -> str:
    if not isinstance(aet, str) or not _AET.match(aet) or not aet.strip():
        raise ValueError(f"{what} {aet!r} is not 1-16 printable characters without a backslash")
    return aet.strip()


def check_port(port: int, what: str = "port") -> int:
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"{what} {port!r} is not a TCP port (1-65535)")
    return port


@dataclass(frozen=True)
class Node:
    """One remote node; validated on construction (``ValueError`` names the bad field)."""

    name: str
    aet: str | None = None
    host: str | None = None
    port: int | None = None
    dicomweb_url: str | None = None
    tls: bool = False
    tls_ca_file: str | None = None
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    bearer_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"node name {self.name!r} must be 1-64 letters, digits, '.', '_' or '-'")
        dimse = (self.aet, self.host, self.port)
        if any(v is not None for v in dimse) and not all(v is not None for v in dimse):
            raise ValueError(f"node {self.name}: DIMSE needs all of --aet, --host and --port")
        if self.aet is not None:
            object.__setattr__(self, "aet", check_aet(self.aet, f"node {self.name}: AE title"))
            check_port(self.port, f"node {self.name}: port")
            if not self.host or any(c.isspace() for c in self.host):
                raise ValueError(f"node {self.name}: host {self.host!r} is not a host name or address")
        if self.dicomweb_url is not None:
            url = urlparse(self.dicomweb_url)
            if url.scheme not in ("http", "https") or not url.netloc:
                raise ValueError(f"node {self.name}: DICOMweb URL {self.dicomweb_url!r} is not http(s)://host/...")
            if url.username or url.password:
                raise ValueError(f"node {self.name}: put credentials in --user/--password-env, not in the URL")
        if self.aet is None and self.dicomweb_url is None:
            raise ValueError(f"node {self.name}: give --aet/--host/--port (DIMSE) and/or --dicomweb URL")
        if self.bearer_token and (self.username or self.password):
            raise ValueError(f"node {self.name}: use either a bearer token or basic credentials, not both")
        if self.tls_ca_file is not None and not Path(self.tls_ca_file).is_file():
            raise ValueError(f"node {self.name}: TLS CA file {self.tls_ca_file} does not exist")

    @property
    def has_dimse(self) -> bool:
        return self.aet is not None

    @property
    def has_dicomweb(self) -> bool:
        return self.dicomweb_url is not None

    @property
    def credentials_kind(self) -> str:
        return "bearer" if self.bearer_token else "basic" if self.username else "none"

    def describe(self) -> str:
        """Short text naming the node and its address (no credentials) for messages and logs."""
        parts = []
        if self.has_dimse:
            parts.append(f"{self.aet}@{self.host}:{self.port}{' (TLS)' if self.tls else ''}")
        if self.has_dicomweb:
            parts.append(self.dicomweb_url)
        return f"node {self.name} ({', '.join(parts)})"

    def public(self) -> dict:
        """The node without its secrets (for ``nodes list`` and the settings form)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("password", "bearer_token")}
        out["credentials"] = self.credentials_kind
        return out


class NodeStore:
    """The configured nodes, by name, in ``<config>/nodes.json``."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else user_dirs().config_dir / "nodes.json"

    def load(self) -> dict[str, Node]:
        if not self.path.exists():
            return {}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return {item["name"]: Node(**item) for item in raw.get("nodes", [])}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{self.path}: the nodes file is unreadable ({exc})") from exc

    def save(self, nodes: dict[str, Node]) -> None:
        text = json.dumps({"nodes": [asdict(n) for n in nodes.values()]}, indent=2, sort_keys=True)
        write_text_atomic(self.path, text)
        os.chmod(self.path, 0o600)

    def get(self, name: str) -> Node:
        """The node called ``name``; ``KeyError`` with the configured names when there is none."""
        nodes = self.load()
        if name not in nodes:
            known = ", ".join(sorted(nodes)) or "none configured"
            raise KeyError(f"no node named {name!r} (known: {known}; add one with 'fetalviewer nodes add')")
        return nodes[name]

    def add(self, node: Node, replace_existing: bool = True) -> None:
        nodes = self.load()
        if node.name in nodes and not replace_existing:
            raise ValueError(f"a node named {node.name!r} exists already")
        nodes[node.name] = node
        self.save(nodes)

    def remove(self, name: str) -> None:
        nodes = self.load()
        if name not in nodes:
            raise KeyError(f"no node named {name!r}")
        del nodes[name]
        self.save(nodes)


@dataclass(frozen=True)
class LocalAE:
    """This application's own AE: title and port (C-MOVE destination, Storage SCP), TLS files."""

    aet: str = DEFAULT_LOCAL_AET
    port: int = DEFAULT_LOCAL_PORT
    bind_host: str = ""
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_ca_file: str | None = None
    allow_aets: tuple[str, ...] = ()
    allow_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_aet(self.aet, "local AE title")
        check_port(self.port, "local port")
        for aet in self.allow_aets:
            if aet != "*":
                check_aet(aet, "allowed calling AE title")

    def with_overrides(self, aet: str | None = None, port: int | None = None,
                       allow_aets: tuple[str, ...] | None = None) -> LocalAE:  # fmt: skip
        return replace(
            self,
            aet=aet if aet is not None else self.aet,
            port=port if port is not None else self.port,
            allow_aets=tuple(allow_aets) if allow_aets is not None else self.allow_aets,
        )


def local_ae_from_settings(settings: dict | None = None) -> LocalAE:
    """The local AE from the settings keys ``local_aet``, ``local_port``, ``local_bind_host``,
    ``tls_cert_file``, ``tls_key_file``, ``tls_ca_file``, ``receive_allow_aets``, ``receive_allow_hosts``."""
    if settings is None:
        from fetalviewer.settings import load_settings

        settings = load_settings()
    return LocalAE(
        aet=str(settings.get("local_aet") or DEFAULT_LOCAL_AET),
        port=int(settings.get("local_port") or DEFAULT_LOCAL_PORT),
        bind_host=str(settings.get("local_bind_host") or ""),
        tls_cert_file=settings.get("tls_cert_file") or None,
        tls_key_file=settings.get("tls_key_file") or None,
        tls_ca_file=settings.get("tls_ca_file") or None,
        allow_aets=tuple(settings.get("receive_allow_aets") or ()),
        allow_hosts=tuple(settings.get("receive_allow_hosts") or ()),
    )
