"""Coverage-guided fuzzing of the DICOM parsing entry points with atheris (libFuzzer for Python).

    pip install atheris
    python tools/fuzz_atheris.py -atheris_runs=20000            # or -max_total_time=600
    python tools/fuzz_atheris.py CRASH_FILE                      # replay a finding

The corpus starts from small ultrasound files of pydicom's test data (copied into a scratch folder).
Each input goes through what a file on disk and a dataset arriving over the network meet first:
``open_instance`` (header read, integrity checks, first and last frame decoded) and
``check_dataset`` on the dataset pydicom parses, and the SR reader. Only the project's own errors
(:class:`~fetalviewer.errors.FetalViewerError`) may leave them; anything else is a finding, reported
by libFuzzer with the input that caused it.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import atheris  # noqa: E402 - after the path set-up; a development tool, not a dependency
import numpy  # noqa: E402, F401 - imported before instrumenting: only the project's code is instrumented
import pydicom  # noqa: E402
import pydicom.pixels  # noqa: E402, F401

with atheris.instrument_imports(include=["fetalviewer"]):
    from fetalviewer.dicom.instance import open_instance
    from fetalviewer.dicom.integrity import check_dataset
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.report.sr import ObGynSR

_SCRATCH = Path(tempfile.mkdtemp(prefix="fetalviewer-atheris-"))
_FILE = _SCRATCH / "input.dcm"
CORPUS_FILES = ("OBXXXX1A_rle_2frame.dcm", "examples_ybr_color.dcm", "US1_J2KI.dcm", "OBXXXX1A_rle.dcm")


def one_input(data: bytes) -> None:
    warnings.simplefilter("ignore")
    _FILE.write_bytes(data)
    try:
        with open_instance(_FILE, cache_mb=0) as loop:
            loop.frame(0)
            loop.frame(loop.n_frames - 1)
    except FetalViewerError:
        pass
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception:  # pydicom's own parser refused it: an association would not deliver it either
        return
    try:
        check_dataset(ds, "input")
    except FetalViewerError:
        pass
    try:
        ObGynSR.from_dataset(ds, "input")
    except FetalViewerError:
        pass


def main() -> None:
    from pydicom.data import get_testdata_file

    corpus = _SCRATCH / "corpus"
    corpus.mkdir()
    for name in CORPUS_FILES:
        source = get_testdata_file(name)
        if source:
            (corpus / name).write_bytes(Path(source).read_bytes())
    argv = list(sys.argv)
    if not any(not a.startswith("-") for a in argv[1:]):
        argv.append(str(corpus))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
