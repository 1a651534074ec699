"""On-disk cache of prompt text embeddings, so re-opening a file costs no text encoding.

Keyed by the weights' sha256, the model config and the prompts' hash (and, for GA, the spacing string:
the 175 mean-over-templates vectors of the reference GA read-out are stored per spacing string). Files are
``.npy`` arrays in ``<user cache>/text_embeddings/``, written atomically; an unreadable entry is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fetalviewer.atomic import atomic_path
from fetalviewer.model.planes import ga_prompt_grid, prompts_digest
from fetalviewer.model.readout import ga_template_mean
from fetalviewer.paths import user_dirs

log = logging.getLogger(__name__)
#: Bump when the way embeddings are computed changes (invalidates old entries).
CACHE_VERSION = 1


class TextEmbeddingCache:
    """Text embeddings of prompt sets for one loaded model (weights sha256 + config)."""

    def __init__(self, loaded, cache_dir: str | Path | None = None) -> None:
        if not hasattr(loaded, "encode_text") or not hasattr(loaded, "info"):
            raise TypeError("loaded must be a LoadedModel (encode_text and info)")
        self._loaded = loaded
        self._dir = Path(cache_dir) if cache_dir is not None else user_dirs().cache_dir / "text_embeddings"
        ident = json.dumps(
            {"sha256": loaded.info.weights_sha256, "config": loaded.config, "version": CACHE_VERSION},
            sort_keys=True,
        )
        self.model_key = hashlib.sha256(ident.encode("utf-8")).hexdigest()[:24]
        self._memory: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        #: Called as ``on_encode(description, n_prompts)`` before prompts are encoded (not on cache hits),
        #: so a front end can say why it pauses (875 GA prompts take minutes on a CPU).
        self.on_encode = None

    @property
    def folder(self) -> Path:
        return self._dir / self.model_key

    def _file(self, kind: str, digest: str) -> Path:
        return self.folder / f"{kind}-{digest[:32]}.npy"

    def _get(self, kind: str, digest: str, compute) -> np.ndarray:
        key = f"{kind}-{digest}"
        with self._lock:
            if key in self._memory:
                return self._memory[key]
        path = self._file(kind, digest)
        value = None
        if path.exists():
            try:
                value = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                log.warning("text embedding cache %s unreadable (%s); recomputing", path, exc)
        if value is None:
            value = np.asarray(compute(), dtype=np.float32)
            try:
                with atomic_path(path, suffix=".npy") as tmp:
                    with open(tmp, "wb") as fh:
                        np.save(fh, value, allow_pickle=False)
            except OSError as exc:
                log.warning("could not write text embedding cache %s (%s)", path, exc)
        with self._lock:
            self._memory[key] = value
        return value

    def prompt_embeddings(self, texts: Sequence[str]) -> np.ndarray:
        """[N, D] L2-normalised embeddings of ``texts`` (in order)."""
        texts = [str(t) for t in texts]

        def compute() -> np.ndarray:
            self._notify(f"encoding {len(texts)} prompts", len(texts))
            return self._loaded.encode_text(texts).numpy()

        return self._get("prompts", prompts_digest(texts), compute)

    def _notify(self, description: str, n: int) -> None:
        if self.on_encode is not None:
            self.on_encode(description, n)

    def class_prompt_embeddings(self, prompts: dict[str, Sequence[str]]) -> list[np.ndarray]:
        """Per class (dict order), its [P, D] normalised prompt embeddings; one cache entry for the set."""
        flat = [t for texts in prompts.values() for t in texts]
        emb = self.prompt_embeddings(flat)
        out, start = [], 0
        for texts in prompts.values():
            out.append(emb[start : start + len(texts)])
            start += len(texts)
        return out

    def _ga_digest(self, pixel_spacing: str) -> str:
        return prompts_digest([t for row in ga_prompt_grid(pixel_spacing) for t in row])

    def has_ga_template_means(self, pixel_spacing: str) -> bool:
        """Whether :meth:`ga_template_means` of ``pixel_spacing`` is cached (in memory or on disk): no encoding."""
        digest = self._ga_digest(pixel_spacing)
        with self._lock:
            if f"ga-{digest}" in self._memory:
                return True
        return self._file("ga", digest).exists()

    def ga_template_means(self, pixel_spacing: str) -> np.ndarray:
        """[175, D] mean over the 5 templates of the normalised GA prompt embeddings for one spacing string."""
        grid = ga_prompt_grid(pixel_spacing)
        digest = self._ga_digest(pixel_spacing)

        def compute() -> np.ndarray:
            flat = [t for row in grid for t in row]
            self._notify(
                f"encoding {len(flat)} GA prompts for pixel spacing {pixel_spacing} mm (cached afterwards)",
                len(flat),
            )
            emb = self._loaded.encode_text(flat).numpy().reshape(len(grid), len(grid[0]), -1)
            return ga_template_mean(emb)

        return self._get("ga", digest, compute)
