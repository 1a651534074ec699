"""Presentation contexts (PS3.8 7.1.1.13): ONE transfer syntax per context, so the peer accepts each
syntax it can take and stores/sends every file in its own encoding; nothing is transcoded.

Ultrasound files arrive as JPEG baseline (cine loops), JPEG lossless, JPEG-LS, JPEG 2000 and RLE
(PS3.5 A.4) besides the uncompressed syntaxes; reports (SR, Encapsulated PDF) are uncompressed only.
"""

from __future__ import annotations

from pydicom import uid

IMAGE_SYNTAXES: tuple[str, ...] = (
    uid.ExplicitVRLittleEndian,
    uid.ImplicitVRLittleEndian,
    uid.JPEGBaseline8Bit,
    uid.JPEGExtended12Bit,
    uid.JPEGLossless,
    uid.JPEGLosslessSV1,
    uid.JPEGLSLossless,
    uid.JPEGLSNearLossless,
    uid.JPEG2000Lossless,
    uid.JPEG2000,
    uid.RLELossless,
)
DOCUMENT_SYNTAXES: tuple[str, ...] = (uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian)

IMAGE_CLASSES: tuple[str, ...] = (
    uid.UltrasoundImageStorage,
    uid.UltrasoundMultiFrameImageStorage,
    uid.SecondaryCaptureImageStorage,
    uid.MultiFrameTrueColorSecondaryCaptureImageStorage,
    uid.MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
)
DOCUMENT_CLASSES: tuple[str, ...] = (
    uid.ComprehensiveSRStorage,
    uid.EnhancedSRStorage,
    uid.BasicTextSRStorage,
    uid.EncapsulatedPDFStorage,
)


def storage_pairs() -> list[tuple[str, str]]:
    """(SOP class, transfer syntax) pairs this application retrieves and receives."""
    pairs = [(c, s) for c in IMAGE_CLASSES for s in IMAGE_SYNTAXES]
    return pairs + [(c, s) for c in DOCUMENT_CLASSES for s in DOCUMENT_SYNTAXES]


def requested_contexts(pairs, extra_abstract: tuple[str, ...] = ()) -> list:
    """One requested presentation context per (SOP class, syntax) pair (at most 128, PS3.8 9.3.2.2),
    after one context per ``extra_abstract`` (e.g. a query/retrieve model) with the default syntaxes."""
    from pynetdicom.presentation import build_context

    contexts = [build_context(a) for a in extra_abstract]
    contexts += [build_context(c, [s]) for c, s in dict.fromkeys(pairs)]
    if len(contexts) > 128:
        raise ValueError(f"{len(contexts)} presentation contexts asked for; an association allows 128")
    return contexts


def supported_storage_contexts() -> list:
    """Acceptor side (Storage SCP, C-MOVE listener): every storage SOP class with every syntax above."""
    from pynetdicom import AllStoragePresentationContexts
    from pynetdicom.presentation import build_context

    return [build_context(cx.abstract_syntax, list(IMAGE_SYNTAXES)) for cx in AllStoragePresentationContexts]
