"""On-disk cache of per-instance analysis results, so that re-opening an analysed study needs no inference.

One file per instance and model, under ``<user cache>/analysis/``. The key is

* the SOP Instance UID;
* a fast file fingerprint: size in bytes, modification time (ns) and the SHA-256 of the first and the last MiB
  of the file. This is not a full content hash (a 100 MB cine would cost a second to hash); it changes
  whenever the file is rewritten, truncated or its header/first frames/last frames change, which covers
  re-exports and copies with altered content. A same-size in-place edit of the middle of a file that also
  restores the mtime would not be seen; that is accepted and documented here;
* the SHA-256 of the weights file and a hash of the prompts (:attr:`AnalysisBackend.identity`), so other
  weights or prompts never reuse old numbers, followed by the analysis options that change the outputs
  when they differ from the window's (no crop, a pixel size given by the user, head read-outs on every
  frame: :meth:`fetalviewer.workspace.study_analysis.AnalysisTarget.cache_identity`).

Each record is written whole, atomically (temporary file + rename), as an ``.npz``: a crash leaves the old
record or the new one, never half of one. A record that cannot be read or does not match its key is deleted
and reported as a miss (logged), never fatal. Partial records (analysis cancelled) are kept: re-opening resumes
with the frames still missing.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fetalviewer.atomic import write_bytes_atomic
from fetalviewer.paths import user_dirs
from fetalviewer.workspace.results import InstanceAnalysis

log = logging.getLogger(__name__)

#: 2: records keep the per-frame embedding norms (CHD head input); version-1 records are recomputed.
FORMAT_VERSION = 2
_CHUNK_BYTES = 1 << 20


def file_fingerprint(path: str | os.PathLike[str]) -> str:
    """Fast content fingerprint: size, mtime_ns and SHA-256 of the first and last MiB (see module doc)."""
    path = Path(path)
    st = path.stat()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        digest.update(fh.read(_CHUNK_BYTES))
        if st.st_size > _CHUNK_BYTES:
            fh.seek(max(_CHUNK_BYTES, st.st_size - _CHUNK_BYTES))
            digest.update(fh.read(_CHUNK_BYTES))
    return f"{st.st_size}-{st.st_mtime_ns}-{digest.hexdigest()[:32]}"


@dataclass(frozen=True)
class CacheKey:
    """Identifies one cached record: instance, file content, model identity."""

    sop_instance_uid: str
    file_fingerprint: str
    model_identity: str

    def __post_init__(self) -> None:
        for name in ("sop_instance_uid", "file_fingerprint", "model_identity"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")

    @classmethod
    def for_file(cls, sop_instance_uid: str, path: str | os.PathLike[str], model_identity: str) -> CacheKey:
        return cls(sop_instance_uid, file_fingerprint(path), model_identity)

    @property
    def digest(self) -> str:
        text = json.dumps([FORMAT_VERSION, self.sop_instance_uid, self.file_fingerprint, self.model_identity])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AnalysisCache:
    """Reads and writes :class:`InstanceAnalysis` records; thread-safe for distinct keys."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else user_dirs().cache_dir / "analysis"

    def path_for(self, key: CacheKey) -> Path:
        return self.root / f"{key.digest}.npz"

    def save(self, key: CacheKey, analysis: InstanceAnalysis) -> Path:
        """Write the whole record atomically and return its path."""
        if analysis.sop_instance_uid != key.sop_instance_uid:
            raise ValueError(
                f"analysis is for {analysis.sop_instance_uid}, key is for {key.sop_instance_uid}"
            )
        meta = {
            "format_version": FORMAT_VERSION,
            "sop_instance_uid": key.sop_instance_uid,
            "file_fingerprint": key.file_fingerprint,
            "model_identity": key.model_identity,
            "n_frames": analysis.n_frames,
            "plane_keys": list(analysis.plane_keys),
            "brain_keys": list(analysis.brain_keys),
            "embed_dim": analysis.embed_dim,
            "map_size": analysis.map_size,
            "ga_unavailable_reason": analysis.ga_unavailable_reason,
        }
        buf = io.BytesIO()
        np.savez(
            buf,
            meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8),
            plane_probs=analysis.plane_probs,
            brain_probs=analysis.brain_probs,
            ga_days=analysis.ga_days,
            embeddings=analysis.embeddings,
            class_maps=analysis.class_maps,
            done=analysis.done,
            embedding_norms=analysis.embedding_norms,
        )
        return write_bytes_atomic(self.path_for(key), buf.getvalue())

    def load(self, key: CacheKey) -> InstanceAnalysis | None:
        """The cached record for ``key``, or None (missing, unreadable or mismatched: deleted, logged)."""
        path = self.path_for(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode("utf-8"))
                for name in ("sop_instance_uid", "file_fingerprint", "model_identity"):
                    if meta.get(name) != getattr(key, name):
                        raise ValueError(f"{name} does not match the key")
                if meta.get("format_version") != FORMAT_VERSION:
                    raise ValueError(f"format version {meta.get('format_version')} is not {FORMAT_VERSION}")
                return InstanceAnalysis(
                    sop_instance_uid=meta["sop_instance_uid"],
                    n_frames=int(meta["n_frames"]),
                    plane_keys=tuple(meta["plane_keys"]),
                    brain_keys=tuple(meta["brain_keys"]),
                    embed_dim=int(meta["embed_dim"]),
                    map_size=int(meta["map_size"]),
                    ga_unavailable_reason=meta.get("ga_unavailable_reason"),
                    plane_probs=data["plane_probs"],
                    brain_probs=data["brain_probs"],
                    ga_days=data["ga_days"],
                    embeddings=data["embeddings"],
                    class_maps=data["class_maps"],
                    done=data["done"],
                    embedding_norms=data["embedding_norms"],
                )
        except Exception as exc:  # noqa: BLE001 - any unreadable record is a miss, never fatal
            log.warning("analysis cache record %s is unreadable (%s); discarded", path, exc)
            try:
                path.unlink()
            except OSError:
                pass
            return None
