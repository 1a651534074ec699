"""What the workspace needs from a model, as a small protocol, and what it gets back per batch of frames.

The production implementation wraps the FetalCLIP engine (:mod:`fetalviewer.workspace.fetalclip_backend`);
tests may pass any object with the same attributes. Everything the workspace shows is derived from these
outputs: plane and brain sub-plane probabilities (zero-shot), the GA read-out, L2-normalised image embeddings
(text search) and per-patch class similarity maps (heat map).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class FrameBatchOutput:
    """Model outputs for a batch of n frames (arrays have n rows, in the order the frames were given)."""

    embeddings: np.ndarray  # (n, D) float32, L2-normalised
    plane_probs: np.ndarray  # (n, P) float32, rows sum to 1
    brain_probs: np.ndarray  # (n, B) float32, rows sum to 1
    ga_days: np.ndarray  # (n,) float32, NaN where not computed
    class_maps: np.ndarray | None = None  # (n, P, S, S) cosine of each patch token with each class embedding
    embedding_norms: np.ndarray | None = None  # (n,) L2 norm of the un-normalised embedding (linear probes)

    def __post_init__(self) -> None:
        n = self.embeddings.shape[0]
        for name in ("plane_probs", "brain_probs", "ga_days"):
            if getattr(self, name).shape[0] != n:
                raise ValueError(f"{name} has {getattr(self, name).shape[0]} rows, embeddings have {n}")
        if self.class_maps is not None and self.class_maps.shape[0] != n:
            raise ValueError(f"class_maps has {self.class_maps.shape[0]} rows, embeddings have {n}")
        if self.embedding_norms is not None and np.shape(self.embedding_norms) != (n,):
            raise ValueError(f"embedding_norms has shape {np.shape(self.embedding_norms)}, expected ({n},)")


@runtime_checkable
class AnalysisBackend(Protocol):
    """A loaded model able to analyse frames; used from ONE worker thread at a time."""

    #: plane class keys in the model's order (abdomen, brain, femur, heart, kidney, lips_nose, ...)
    plane_keys: tuple[str, ...]
    #: brain sub-plane keys in the model's order
    brain_keys: tuple[str, ...]
    #: image embedding size
    embed_dim: int
    #: weights SHA-256 + prompt hash: results cached under another identity are never reused
    identity: str

    def analyze_frames(self, frames: Sequence[np.ndarray], pixel_size_mm: float | None) -> FrameBatchOutput:
        """Analyse uint8 frames ((rows, cols) or (rows, cols, 3)); GA only when ``pixel_size_mm`` is known.

        Brain sub-plane and GA are read on frames whose top plane is brain; a backend that also accepts the
        keyword ``head_readouts_all_frames=True`` reads them on every frame (it is passed only when asked).
        """
        ...

    def embed_text(self, text: str) -> np.ndarray:
        """L2-normalised text embedding (D,) of a free-text query."""
        ...
