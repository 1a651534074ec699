"""What ``fetalviewer batch`` analyses: SOURCE arguments -> files, each with its fingerprint and header.

Folders are walked and DICOMDIRs followed by :func:`fetalviewer.dicom.study.list_files` (the window's
rules, every file once). Before any model is loaded, each file's fingerprint
(:func:`fetalviewer.workspace.cache.file_fingerprint`) and header (SOP Instance UID, number of frames;
pixel data not read) are taken: the fingerprint says whether a rerun already has the file, the UID finds
a second copy of an instance, the frame count gives the progress bar its total. A file whose header
does not read still goes to the workers, which report it with the reader's own message.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fetalviewer.errors import FetalViewerError

NODE_PREFIX = "node:"


class SourceRefused(FetalViewerError):
    """A SOURCE argument cannot be used (missing, or a kind this installation cannot read)."""


@dataclass(frozen=True)
class Candidate:
    path: str
    fingerprint: str
    sop_instance_uid: str | None
    n_frames: int | None


@dataclass
class Listing:
    """The files to analyse now, what a rerun already has, and what cannot be used."""

    todo: list[Candidate] = field(default_factory=list)
    n_done_files: int = 0
    n_done_rows: int = 0
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (path, kind, reason)

    def frames_todo(self, step: int) -> int:
        """Frames the workers will analyse (files whose header does not read count as none)."""
        return sum(math.ceil(c.n_frames / step) for c in self.todo if c.n_frames)


@dataclass(frozen=True)
class NodeQuery:
    """The study-level keys of ``fetalviewer query`` for ``node:NAME`` sources."""

    patient_id: str = ""
    patient_name: str = ""
    study_date: str = ""
    accession: str = ""
    modality: str = "US"


def retrieve_node_sources(
    sources: Iterable[str], query: NodeQuery, say=None
) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Replace each ``node:NAME`` by the files of the studies it holds that match ``query``: found with
    C-FIND / QIDO-RS and retrieved into the local archive (:mod:`fetalviewer.net`, as ``fetalviewer query``
    and ``fetalviewer retrieve`` do; already archived instances are not fetched twice by the node's
    rules), then analysed from there. Returns (local sources, problems)."""
    out: list[str] = []
    problems: list[tuple[str, str, str]] = []
    for source in sources:
        if not source.startswith(NODE_PREFIX):
            out.append(source)
            continue
        from fetalviewer.net.nodes import NodeStore, local_ae_from_settings
        from fetalviewer.net.query import StudyQuery, find_studies
        from fetalviewer.net.retrieve import retrieve
        from fetalviewer.studydb import open_study_db

        name = source[len(NODE_PREFIX) :]
        try:
            keys = StudyQuery(
                query.patient_id, query.patient_name, query.study_date, query.accession, query.modality
            )
        except ValueError as exc:
            raise SourceRefused(f"{source}: {exc}") from exc
        try:
            node, local = NodeStore().get(name), local_ae_from_settings()
        except (KeyError, ValueError) as exc:
            raise SourceRefused(f"{source}: {exc.args[0] if exc.args else exc}") from exc
        uids = [s["study_instance_uid"] for s in find_studies(node, local, keys)]
        if say is not None:
            say(f"{source}: {len(uids)} matching study(ies); retrieving into the local archive", False)
        with open_study_db() as db:
            if uids:
                result = retrieve(node, local, uids, db)
                for problem in result.problems:
                    problems.append((source, "retrieve_failed", f"{source}: {problem}"))
            for uid in uids:
                paths = db.instance_paths(uid)
                if not paths:
                    problems.append((source, "retrieve_failed", f"{source}: study {uid}: nothing retrieved"))
                out.extend(str(p) for p in paths)
        if not uids:
            problems.append((source, "no_match", f"{source}: no study matches the query"))
    return out, problems


def _header(path: str) -> tuple[str | None, int | None]:
    """SOP Instance UID and the frames the pixel data really holds (checked against the header's claim,
    so a file claiming a million frames does not inflate the plan); ``(None, None)`` when unreadable."""
    from fetalviewer.dicom import open_instance
    from fetalviewer.dicom.instance import STREAM_CACHE_MB

    try:
        with open_instance(path, cache_mb=STREAM_CACHE_MB) as cine:
            return (cine.sop_instance_uid or None), int(cine.n_frames)
    except Exception:  # noqa: BLE001 - the worker reports the file with the reader's message
        return None, None


def list_sources(sources: Iterable[str], done: Mapping[str, object] | None = None) -> Listing:
    """Expand ``sources``; ``done`` maps fingerprints already in the output (see :mod:`.store`) to an
    object with ``sop_instance_uid``, ``source_path`` and ``n_rows``."""
    from fetalviewer.dicom.study import list_files
    from fetalviewer.workspace.cache import file_fingerprint

    done = done or {}
    sources = list(sources)
    if any(s.startswith(NODE_PREFIX) for s in sources):
        raise SourceRefused("node: sources must be retrieved first (retrieve_node_sources)")
    listing = Listing()
    files, problems = list_files(sources)
    for p in problems:
        listing.problems.append((p.path, p.kind, p.message))
    done_sops = {d.sop_instance_uid: d for d in done.values()}
    seen_sops: dict[str, str] = {}
    for path, _walked in files:
        path = os.path.abspath(path)  # workers on other nodes or in other folders read the same path
        try:
            fingerprint = file_fingerprint(path)
        except OSError as exc:
            listing.problems.append((path, "unreadable", f"{path}: cannot be read ({exc})"))
            continue
        if fingerprint in done:
            listing.n_done_files += 1
            listing.n_done_rows += int(done[fingerprint].n_rows)
            if getattr(done[fingerprint], "problem", None):  # e.g. frames that did not decode last time
                listing.problems.append(
                    (path, done[fingerprint].problem_kind or "frame_decode", done[fingerprint].problem)
                )
            continue
        sop, n_frames = _header(path)
        if sop is not None and sop in seen_sops:
            listing.problems.append(
                (path, "duplicate", f"{path}: same SOP Instance UID as {seen_sops[sop]}; skipped")
            )
            continue
        if sop is not None and sop in done_sops:  # done from another file (or this file before it changed)
            first = done_sops[sop].source_path
            listing.problems.append((path, "duplicate", f"{path}: same SOP Instance UID as {first}; skipped"))
            continue
        if sop is not None:
            seen_sops[sop] = path
        listing.todo.append(Candidate(path, fingerprint, sop, n_frames))
    return listing
