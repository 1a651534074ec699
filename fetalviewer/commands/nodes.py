"""``fetalviewer nodes add|list|remove|echo``: the remote DICOM nodes (PACS, modalities)."""

from __future__ import annotations

import argparse
import os

from fetalviewer.commands.net_common import node_and_local, say, start_log, write_json
from fetalviewer.commands.options import add_json_option

NAME = "nodes"
HELP = "configure remote DICOM nodes (DIMSE AE/host/port and/or DICOMweb URL) and verify them (echo)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add or replace a node")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--aet", metavar="AET", help="the node's AE title (DIMSE)")
    add.add_argument("--host", metavar="HOST", help="the node's host name or address (DIMSE)")
    add.add_argument("--port", type=int, metavar="PORT", help="the node's DIMSE port")
    add.add_argument("--tls", action="store_true", help="DIMSE over TLS (certificates from the settings)")
    add.add_argument("--tls-ca", metavar="FILE", help="CA certificate(s) that signed the node's certificate")
    add.add_argument("--dicomweb", metavar="URL", help="the node's DICOMweb base URL (http or https)")
    add.add_argument("--user", metavar="USER", help="DICOMweb basic authentication user")
    add.add_argument("--password-env", metavar="VAR", help="environment variable holding the password")
    add.add_argument("--token-env", metavar="VAR", help="environment variable holding a bearer token")
    listing = sub.add_parser("list", help="list the nodes (credentials are never shown)")
    add_json_option(listing)
    remove = sub.add_parser("remove", help="remove a node")
    remove.add_argument("name", metavar="NAME")
    echo = sub.add_parser("echo", help="verify a node (C-ECHO and/or a DICOMweb search); exit 0 on success")
    echo.add_argument("name", metavar="NAME")


def _secret(var: str | None, what: str) -> str | None:
    from fetalviewer.errors import UsageError

    if var is None:
        return None
    value = os.environ.get(var)
    if not value:
        raise UsageError(f"nodes add: environment variable {var} (the {what}) is not set")
    return value


def run(args: argparse.Namespace) -> int:
    start_log()
    from fetalviewer.errors import UsageError
    from fetalviewer.net.nodes import Node, NodeStore

    store = NodeStore()
    if args.action == "add":
        try:
            node = Node(args.name, args.aet, args.host, args.port, args.dicomweb, tls=args.tls,
                        tls_ca_file=args.tls_ca, username=args.user,
                        password=_secret(args.password_env, "password"),
                        bearer_token=_secret(args.token_env, "bearer token"))  # fmt: skip
        except ValueError as exc:
            raise UsageError(f"nodes add: {exc}") from exc
        store.add(node)
        say(f"added {node.describe()}")
        return 0
    if args.action == "remove":
        try:
            store.remove(args.name)
        except KeyError as exc:
            raise UsageError(f"nodes remove: {exc.args[0]}") from exc
        say(f"removed node {args.name}")
        return 0
    if args.action == "list":
        nodes = store.load()
        if args.json:
            write_json(args.json, [n.public() for n in nodes.values()])
            if args.json == "-":
                return 0
        for node in nodes.values():
            say(f"{node.describe()}  credentials: {node.credentials_kind}")
        say(f"{len(nodes)} node(s)")
        return 0
    from fetalviewer.net.echo import echo

    node, local = node_and_local(args.name)
    for result in echo(node, local):
        say(f"{node.describe()}: {result.protocol} verified in {result.round_trip_ms:.0f} ms")
    return 0
