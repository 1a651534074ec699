"""Per-instance analysis results of the review workspace: one row per frame, filled progressively.

An :class:`InstanceAnalysis` holds, for one DICOM instance (one still or cine), arrays indexed by frame:

* ``plane_probs`` (frames x planes): zero-shot FetalCLIP plane probabilities (softmax over the 9 classes);
* ``brain_probs`` (frames x 3): brain sub-plane probabilities (separate 3-way softmax, meaningful on brain frames);
* ``ga_days`` (frames): the model's gestational age read-out (NaN where not computed: no calibration, or not
  a head frame);
* ``embeddings`` (frames x D): L2-normalised image embeddings, used by the text search;
* ``embedding_norms`` (frames): the L2 norm of each frame's un-normalised projected embedding
  (``model.visual(x)``), so :meth:`InstanceAnalysis.raw_embeddings` gives back what the FetalCLIP linear
  probes (the CHD head) read: ``embeddings * norm`` (arXiv 2502.14807, downstream heads; docs/fetalclip.md); NaN where unknown;
* ``class_maps`` (frames x planes x 16 x 16): per-patch similarity with each class text embedding (heat map);
* ``done`` (frames): which frames have been analysed. Rows of frames not yet analysed hold NaN.

The object is mutated only by the analysis worker; readers get :meth:`snapshot` copies, so a widget never sees
a half-written row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class InstanceAnalysis:
    """Model outputs for every frame of one instance (see the module docstring for the arrays)."""

    sop_instance_uid: str
    n_frames: int
    plane_keys: tuple[str, ...]
    brain_keys: tuple[str, ...]
    embed_dim: int
    map_size: int = 16
    ga_unavailable_reason: str | None = None
    plane_probs: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    brain_probs: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    ga_days: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    embeddings: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    class_maps: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    done: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    embedding_norms: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not isinstance(self.sop_instance_uid, str) or not self.sop_instance_uid:
            raise ValueError("sop_instance_uid must be a non-empty string")
        if not isinstance(self.n_frames, int) or self.n_frames < 1:
            raise ValueError(f"n_frames must be a positive int, got {self.n_frames!r}")
        if not self.plane_keys:
            raise ValueError("plane_keys must not be empty")
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be positive, got {self.embed_dim!r}")
        n, p, b = self.n_frames, len(self.plane_keys), len(self.brain_keys)
        defaults = {
            "plane_probs": ((n, p), np.float32, np.nan),
            "brain_probs": ((n, b), np.float32, np.nan),
            "ga_days": ((n,), np.float32, np.nan),
            "embeddings": ((n, self.embed_dim), np.float32, np.nan),
            "class_maps": ((n, p, self.map_size, self.map_size), np.float16, np.nan),
            "done": ((n,), bool, False),
            "embedding_norms": ((n,), np.float32, np.nan),
        }
        for name, (shape, dtype, fill) in defaults.items():
            value = getattr(self, name)
            if value is None:
                value = np.full(shape, fill, dtype=dtype)
            else:
                value = np.asarray(value, dtype=dtype)
                if value.shape != shape:
                    raise ValueError(f"{name} must have shape {shape}, got {value.shape}")
            setattr(self, name, value)

    # ----------------------------------------------------------------------------------- writing
    def store(
        self,
        frame_indices: list[int] | np.ndarray,
        *,
        plane_probs: np.ndarray,
        brain_probs: np.ndarray,
        ga_days: np.ndarray,
        embeddings: np.ndarray,
        class_maps: np.ndarray | None = None,
        embedding_norms: np.ndarray | None = None,
    ) -> None:
        """Write the rows of ``frame_indices`` and mark them done (norms unknown when not given)."""
        idx = np.asarray(frame_indices, dtype=np.int64)
        if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= self.n_frames)):
            raise ValueError(f"frame_indices out of range 0..{self.n_frames - 1}: {idx.tolist()}")
        self.plane_probs[idx] = plane_probs
        self.brain_probs[idx] = brain_probs
        self.ga_days[idx] = ga_days
        self.embeddings[idx] = embeddings
        if class_maps is not None:
            self.class_maps[idx] = class_maps
        self.embedding_norms[idx] = np.nan if embedding_norms is None else embedding_norms
        self.done[idx] = True

    # ----------------------------------------------------------------------------------- reading
    @property
    def n_done(self) -> int:
        return int(self.done.sum())

    @property
    def is_complete(self) -> bool:
        return bool(self.done.all())

    def snapshot(self) -> InstanceAnalysis:
        """A deep copy for another thread."""
        return InstanceAnalysis(
            self.sop_instance_uid,
            self.n_frames,
            self.plane_keys,
            self.brain_keys,
            self.embed_dim,
            self.map_size,
            self.ga_unavailable_reason,
            self.plane_probs.copy(),
            self.brain_probs.copy(),
            self.ga_days.copy(),
            self.embeddings.copy(),
            self.class_maps.copy(),
            self.done.copy(),
            self.embedding_norms.copy(),
        )

    def raw_embeddings(self, frame_indices: list[int] | np.ndarray) -> np.ndarray:
        """The un-normalised projected embeddings ``[N, D]`` of analysed frames (``embeddings * norm``).

        These are the inputs of the FetalCLIP linear probes (CHD head), identical up to float rounding to
        what ``fetalviewer analyze`` gets from the service. Raises ValueError for a frame not analysed or
        analysed without its norm.
        """
        idx = np.asarray(frame_indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_frames):
            raise ValueError(f"frame_indices out of range 0..{self.n_frames - 1}: {idx.tolist()}")
        missing = [int(i) for i in idx if not self.done[i] or not np.isfinite(self.embedding_norms[i])]
        if missing:
            raise ValueError(
                f"frames {missing} of {self.sop_instance_uid} have no un-normalised embedding "
                "(not analysed, or analysed by an older version: run the AI review again)"
            )
        return (self.embeddings[idx] * self.embedding_norms[idx][:, None]).astype(np.float32)

    def nearest_done(self, frame_index: int) -> int | None:
        """The analysed frame closest to ``frame_index`` (for showing a value before the fill pass)."""
        done = np.flatnonzero(self.done)
        if done.size == 0:
            return None
        return int(done[np.argmin(np.abs(done - frame_index))])

    def frame_reading(self, frame_index: int) -> FrameReading | None:
        """What the model says about one frame, or None when it is not analysed yet."""
        if not 0 <= frame_index < self.n_frames:
            raise ValueError(f"frame_index {frame_index} out of range 0..{self.n_frames - 1}")
        if not self.done[frame_index]:
            return None
        probs = self.plane_probs[frame_index]
        top = int(np.argmax(probs))
        brain = self.brain_probs[frame_index]
        brain_key, brain_prob = None, None
        if brain.size and not np.isnan(brain).any():
            b = int(np.argmax(brain))
            brain_key, brain_prob = self.brain_keys[b], float(brain[b])
        ga = float(self.ga_days[frame_index])
        return FrameReading(
            frame_index=frame_index,
            plane_key=self.plane_keys[top],
            plane_prob_0_1=float(probs[top]),
            brain_key=brain_key,
            brain_prob_0_1=brain_prob,
            ga_days=None if math.isnan(ga) else ga,
        )


@dataclass(frozen=True)
class FrameReading:
    """The model's read-out for one frame: top plane with probability, brain sub-plane, GA (model output)."""

    frame_index: int
    plane_key: str
    plane_prob_0_1: float
    brain_key: str | None
    brain_prob_0_1: float | None
    ga_days: float | None

    def is_uncertain(self, threshold_0_1: float) -> bool:
        """True when the top plane probability is under the user's threshold."""
        return self.plane_prob_0_1 < threshold_0_1
