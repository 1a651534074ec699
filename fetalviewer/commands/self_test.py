"""``fetalviewer self-test`` (also ``--self-test``, and ``FetalViewer-debug --self-test`` when frozen).

Runs offscreen and checks, in order, that the installation works end to end: every module imports, the
bundled sample study opens and decodes, the window opens it offscreen, the bundled default head model
measures the sample stills' HC (within 10 mm of HC18's published values), the FetalCLIP pipeline analyses
the sample (with the installed weights when ``--use-installed-weights`` is given, else with a tiny
random-weight model of the same architecture family built on the spot from the bundled test config), and
a PDF report and a DICOM SR are written to a temporary folder and read back. Prints one line per check
and a one-line result; exits 0 only if every check passed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pkgutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

NAME = "self-test"
HELP = "check the installation offscreen (imports, sample, window, analysis, PDF and SR) and exit 0 if all pass"

HEAVY_MODULES = ("numpy", "PIL", "pydicom", "cv2", "torch", "torchvision", "open_clip", "highdicom", "reportlab",
                 "PySide6.QtWidgets", "pyqtgraph", "superqt", "platformdirs", "safetensors")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--use-installed-weights", action="store_true",
        help="analyse with the installed FetalCLIP weights instead of a tiny random-weight test model",
    )
    parser.add_argument("--keep", metavar="DIR", help="write the outputs to DIR and keep them")
    parser.add_argument("--skip-window", action="store_true", help="skip the offscreen window check")


class _Checks:
    def __init__(self) -> None:
        self.results: list[tuple[str, bool, str]] = []

    def run(self, name: str, func: Callable[[], str]) -> bool:
        start = time.perf_counter()
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                detail = func() or ""
            ok = True
        except Exception as exc:  # every failure is reported, none stops the other checks
            detail = f"{type(exc).__name__}: {exc}"
            if os.environ.get("FETALVIEWER_SELFTEST_TRACEBACK"):
                detail += "\n" + traceback.format_exc()
            ok = False
        elapsed_s = time.perf_counter() - start
        self.results.append((name, ok, detail))
        print(f"  [{'ok' if ok else 'FAIL'}] {name} ({elapsed_s:.1f} s){': ' + detail if detail else ''}", flush=True)
        return ok


def _check_imports() -> str:
    import importlib

    import fetalviewer

    for module in HEAVY_MODULES:
        importlib.import_module(module)
    names = [m.name for m in pkgutil.walk_packages(fetalviewer.__path__, "fetalviewer.")]
    for name in names:
        importlib.import_module(name)
    return f"{len(names)} fetalviewer modules, {len(HEAVY_MODULES)} libraries"


def _check_decoders() -> str:
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, JPEGLosslessSV1, JPEGLSLossless, RLELossless

    missing = []
    for uid in (JPEGBaseline8Bit, JPEGLosslessSV1, JPEGLSLossless, JPEG2000Lossless, RLELossless):
        if not get_decoder(uid).is_available:
            missing.append(uid.name)
    if missing:
        raise RuntimeError(f"no decoder available for: {', '.join(missing)}")
    return "JPEG baseline/lossless, JPEG-LS, JPEG 2000, RLE"


def _check_sample() -> str:
    from fetalviewer.dicom import load_study
    from fetalviewer.paths import sample_study_dir

    study = load_study([sample_study_dir()])
    if not study.instances:
        raise RuntimeError(f"no instance opened from {sample_study_dir()}")
    if study.problems:
        raise RuntimeError("; ".join(f"{p.path}: {p.message}" for p in study.problems))
    frames = 0
    for cine in study.instances:
        for index in {0, cine.n_frames - 1}:
            frame = cine.frame(index)
            if frame.dtype.name != "uint8" or frame.shape[:2] != (cine.rows, cine.columns):
                raise RuntimeError(f"{cine.path.name}: frame {index} decoded as {frame.dtype} {frame.shape}")
            frames += 1
        cine.close()
    return f"{len(study.instances)} instances, {frames} frames decoded"


def _check_window() -> str:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from fetalviewer.paths import sample_study_dir
    from fetalviewer.ui.selftest import self_test_window

    return self_test_window([str(sample_study_dir())])


#: The default head model must measure each sample still within this of HC18's published HC (its
#: held-out mean absolute error is 1.83 mm, weights/README.md): a larger miss means a broken install.
HEAD_CHECK_TOLERANCE_MM = 10.0


def _check_default_head() -> str:
    """The bundled default head model measures the sample stills' HC close to the published values."""
    from fetalviewer.analysis.frame_biometry import biometry_fields, fit_head_mask
    from fetalviewer.dicom import open_instance
    from fetalviewer.dicom.calibration import single_tissue_region
    from fetalviewer.model.heads.default_head import segment_head
    from fetalviewer.paths import sample_study_dir

    truth = json.loads((sample_study_dir() / "sample_truth.json").read_text(encoding="utf-8"))
    diffs = []
    for item in truth["instances"]:
        cine = open_instance(sample_study_dir() / item["file"])
        try:
            if cine.n_frames != 1:
                continue
            seg = segment_head(cine.frame(0), region=single_tissue_region(cine.regions))
            fields = biometry_fields(fit_head_mask(seg.mask, seg.crop_box), regions=cine.regions)
        finally:
            cine.close()
        if fields["hc_mm"] is None:
            raise RuntimeError(f"{item['file']}: no HC ({fields['biometry_unavailable_reason']})")
        diff = abs(fields["hc_mm"] - item["hc_mm"])
        if diff > HEAD_CHECK_TOLERANCE_MM:
            raise RuntimeError(f"{item['file']}: HC {fields['hc_mm']:.1f} mm vs published {item['hc_mm']} mm")
        diffs.append(diff)
    if not diffs:
        raise RuntimeError("no sample still to measure")
    return f"{len(diffs)} stills, HC within {max(diffs):.1f} mm of HC18's published values"


def _tiny_weights(folder: Path) -> tuple[Path, Path]:
    import torch

    from fetalviewer.model.loader import build_model, register_config
    from fetalviewer.paths import resources_dir

    config = resources_dir() / "model_configs" / "FetalCLIP_tiny_test.json"
    name, _ = register_config(config)
    torch.manual_seed(0)
    model = build_model(name)
    weights = folder / "selftest_tiny_fetalclip.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": 0}, weights)
    return weights, config


def _run_cli(argv: list[str]) -> None:
    from fetalviewer.cli import main

    try:
        status = main(argv)
    except SystemExit as exc:  # argparse rejects the arguments
        status = exc.code
    if status != 0:
        raise RuntimeError(f"'fetalviewer {' '.join(argv)}' exited with {status}")


def _check_analysis(out_dir: Path, model_args: list[str]) -> str:
    from fetalviewer.paths import sample_study_dir

    target = out_dir / "analysis.json"
    _run_cli(["analyze", str(sample_study_dir()), "--device", "cpu", "--step", "40", "--json", str(target),
              *model_args])
    data = json.loads(target.read_text())
    frames = data.get("frames") or []
    if not frames:
        raise RuntimeError("analysis returned no frames")
    with_planes = [f for f in frames if f.get("plane_probs")]
    if not with_planes:
        raise RuntimeError("no frame has plane probabilities")
    total = sum(with_planes[0]["plane_probs"].values())
    if abs(total - 1.0) > 1e-3:
        raise RuntimeError(f"plane probabilities sum to {total:.4f}, not 1")
    hc = [f["hc_mm"] for f in frames if f.get("hc_mm") is not None]
    return f"{len(frames)} frames analysed, {len(hc)} with automatic HC"


def _check_reports(out_dir: Path, model_args: list[str]) -> str:
    from fetalviewer.paths import sample_study_dir

    report_dir = out_dir / "report"
    _run_cli(["report", str(sample_study_dir()), "--out", str(report_dir), "--formats", "pdf,sr", *model_args])
    pdfs = sorted(report_dir.rglob("*.pdf"))
    srs = [p for p in report_dir.rglob("*.dcm") if "sr" in p.name.lower()] or sorted(report_dir.rglob("*.dcm"))
    if not pdfs or not srs:
        raise RuntimeError(f"expected a PDF and an SR in {report_dir}, found {[p.name for p in report_dir.rglob('*')]}")
    pdf = pdfs[0].read_bytes()
    if not pdf.startswith(b"%PDF-") or b"%%EOF" not in pdf[-1024:] or b"/Type /Page" not in pdf:
        raise RuntimeError(f"{pdfs[0].name} is not a complete PDF")
    import pydicom

    from fetalviewer.report.sr import ObGynSR

    sr = pydicom.dcmread(srs[0])
    if sr.Modality != "SR":
        raise RuntimeError(f"{srs[0].name} has modality {sr.Modality}")
    read_back = ObGynSR.from_file(srs[0])
    return f"{pdfs[0].name} ({len(pdf) // 1024} KiB), {srs[0].name} read back ({type(read_back).__name__})"


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    start = time.perf_counter()
    print("FetalViewer self-test", flush=True)
    checks = _Checks()
    with contextlib.ExitStack() as stack:
        if args.keep:
            out_dir = Path(args.keep)
            out_dir.mkdir(parents=True, exist_ok=True)
        else:
            out_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fetalviewer-selftest-")))
        checks.run("imports", _check_imports)
        checks.run("pixel decoders", _check_decoders)
        checks.run("sample study", _check_sample)
        if not args.skip_window:
            checks.run("window (offscreen)", _check_window)
        checks.run("default head model", _check_default_head)
        model_args: list[str] = []
        if args.use_installed_weights:
            label = "analysis (installed weights)"
        else:
            label = "analysis (tiny random-weight test model)"

            def _make() -> str:
                weights, config = _tiny_weights(out_dir)
                model_args.extend(["--weights", str(weights), "--config", str(config)])
                return weights.name

            checks.run("test model", _make)
        checks.run(label, lambda: _check_analysis(out_dir, model_args))
        checks.run("PDF report and DICOM SR", lambda: _check_reports(out_dir, model_args))
    failed = [name for name, ok, _ in checks.results if not ok]
    elapsed_s = time.perf_counter() - start
    if failed:
        print(f"self-test: FAIL ({len(failed)} of {len(checks.results)} checks failed: {', '.join(failed)}) "
              f"in {elapsed_s:.0f} s", flush=True)
        return 1
    print(f"self-test: PASS ({len(checks.results)} checks) in {elapsed_s:.0f} s", flush=True)
    return 0
