"""Transfer syntaxes: readable names, and which pip package decodes each one (PS3.5 Annex A).

pydicom decodes native (uncompressed) and RLE data by itself; compressed syntaxes need plugins.
When none is installed :func:`check_decoder` raises :class:`DecoderMissing` naming the package.
"""

from __future__ import annotations

from typing import Any

from fetalviewer.errors import DecoderMissing

#: Transfer syntax UID -> the pip package(s) that provide a pydicom decoder for it.
DECODER_PACKAGES: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "pylibjpeg-libjpeg (with pylibjpeg) or pillow",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51": "pylibjpeg-libjpeg (with pylibjpeg)",  # JPEG Extended
    "1.2.840.10008.1.2.4.57": "pylibjpeg-libjpeg (with pylibjpeg)",  # JPEG Lossless
    "1.2.840.10008.1.2.4.70": "pylibjpeg-libjpeg (with pylibjpeg)",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.80": "pyjpegls (or pylibjpeg-libjpeg)",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81": "pyjpegls (or pylibjpeg-libjpeg)",  # JPEG-LS Near-lossless
    "1.2.840.10008.1.2.4.90": "pylibjpeg-openjpeg (with pylibjpeg)",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.91": "pylibjpeg-openjpeg (with pylibjpeg)",  # JPEG 2000
    "1.2.840.10008.1.2.4.201": "pylibjpeg-openjpeg (with pylibjpeg)",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202": "pylibjpeg-openjpeg (with pylibjpeg)",  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.4.203": "pylibjpeg-openjpeg (with pylibjpeg)",  # HTJ2K
    "1.2.840.10008.1.2.5": "pylibjpeg-rle (with pylibjpeg)",  # RLE Lossless
}

#: Video transfer syntaxes (MPEG-2/4, HEVC): pydicom has no frame decoder for them.
VIDEO_PREFIXES = ("1.2.840.10008.1.2.4.10", "1.2.840.10008.1.2.4.11")


def transfer_syntax_name(uid: str) -> str:
    """pydicom's name for a transfer syntax UID, or the UID itself when unknown."""
    from pydicom.uid import UID

    name = UID(str(uid)).name
    return name or str(uid)


def check_decoder(uid: str, path: str) -> Any:
    """Return pydicom's decoder for ``uid``; raise DecoderMissing (naming ``path``) when unavailable."""
    from pydicom.pixels import get_decoder

    uid = str(uid)
    name = transfer_syntax_name(uid)
    if uid.startswith(VIDEO_PREFIXES):
        raise DecoderMissing(
            f"{path}: transfer syntax {name} ({uid}) is a video stream; FetalViewer cannot decode "
            "video-compressed DICOM frames (export the loop as JPEG or uncompressed from the scanner)"
        )
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        raise DecoderMissing(
            f"{path}: transfer syntax {name} ({uid}) is not supported by any installed decoder"
        ) from None
    if not decoder_available(decoder):
        package = DECODER_PACKAGES.get(uid, "a pydicom pixel-data plugin")
        raise DecoderMissing(
            f"{path}: no decoder is installed for transfer syntax {name} ({uid}); "
            f"install {package} (pip install {package.split()[0]})"
        )
    return decoder


def decoder_available(decoder: Any) -> bool:
    """Whether a pydicom decoder has at least one working plugin (kept apart so tests can patch it)."""
    return bool(decoder.is_available)


def warm_up() -> None:
    """Import pydicom and its decoder plugins now (about half a second), e.g. on a worker at start-up,
    so that opening the first file does not pay for it."""
    import pydicom.pixels  # noqa: F401
    from pydicom.pixels import get_decoder

    for uid in DECODER_PACKAGES:
        try:
            get_decoder(uid).is_available  # noqa: B018 - probing imports the plugins
        except NotImplementedError:
            continue
