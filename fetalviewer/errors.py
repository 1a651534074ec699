"""The project's small exception family: one class where a caller must react differently.

Every message names the file (or argument) and the problem, so it can be shown to a user as is.
The command line (:mod:`fetalviewer.cli`) maps every :class:`FetalViewerError` that leaves a command
to exit status 2 with its message, and any other exception to status 1 with a crash report.
"""

from __future__ import annotations


class FetalViewerError(Exception):
    """Base class: a problem the user can understand and act on (never a programming error)."""


class UsageError(FetalViewerError):
    """A command was asked for something it refuses: a bad argument, a missing path, a refused operation.

    The command line prints the message and exits with status 2 (as for every :class:`FetalViewerError`).
    """


class DicomReadError(FetalViewerError):
    """A file could not be read as DICOM (not DICOM, truncated, no pixel data, ...)."""


class DecoderMissing(DicomReadError):
    """The transfer syntax needs a decoder package that is not installed."""


class FrameDecodeError(DicomReadError):
    """One frame of an otherwise readable instance could not be decoded."""


class WeightsNotFound(FetalViewerError):
    """No FetalCLIP weights file is configured or the configured one does not exist."""


class WeightsMismatch(FetalViewerError):
    """A weights or head file does not match the expected architecture."""


class ExportError(FetalViewerError):
    """An export could not be written; nothing half-written is left behind."""


class NodeError(FetalViewerError):
    """A DICOM node (PACS, modality) is unreachable, refused the association or failed an operation.

    The message names the node and the reason (never credentials)."""
