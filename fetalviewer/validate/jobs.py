"""One entry point for a validation job, used by ``fetalviewer validate`` and the window's dialog alike.

:func:`run_job` checks the data set first (nothing loads or is written when its layout is wrong), loads
the model once, runs the job with progress/cancel through a :class:`RunControl`, and writes the acceptance
report (JSON and PDF) atomically into the output folder, beside the resumable per-image cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fetalviewer.validate.control import RunControl
from fetalviewer.validate.metrics import BOOTSTRAP_RESAMPLES
from fetalviewer.validate.result import AcceptanceResult

JOBS = ("planes", "ga", "hc")


def default_out_dir(job: str) -> Path:
    from fetalviewer.paths import user_dirs

    return user_dirs().data_dir / "validation" / job


@dataclass(frozen=True)
class JobRequest:
    job: str
    data_dir: Path
    out_dir: Path | None = None
    split: str = "all"
    model: str = "auto"
    weights: str | None = None
    config: str | None = None
    device: str = "auto"
    precision: str = "auto"
    published_dir: str | None = None
    batch_size: int = 8
    resamples: int = BOOTSTRAP_RESAMPLES

    def __post_init__(self) -> None:
        if self.job not in JOBS:
            raise ValueError(f"job must be one of {JOBS}, got {self.job!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}")
        if not isinstance(self.resamples, int) or self.resamples < 0:
            raise ValueError(f"resamples must be a non-negative int, got {self.resamples!r}")

    @property
    def output_dir(self) -> Path:
        return Path(self.out_dir) if self.out_dir is not None else default_out_dir(self.job)


@dataclass(frozen=True)
class JobOutcome:
    result: AcceptanceResult
    json_path: Path
    pdf_path: Path


def _installed_seg_heads() -> list[Path]:
    from fetalviewer.errors import FetalViewerError
    from fetalviewer.model.heads.headfile import HEAD_SUFFIX, head_dirs, read_header

    found = []
    for folder in head_dirs():
        for path in sorted(folder.glob(f"*{HEAD_SUFFIX}")) if folder.is_dir() else ():
            try:
                if read_header(path).kind == "seg":
                    found.append(path)
            except FetalViewerError:
                continue
    return found


def run_job(request: JobRequest, control: RunControl) -> JobOutcome:
    """Run one job (see the module docstring). Raises DatasetError / WeightsNotFound / WeightsMismatch
    (bad input, message names the file) or ValidationCancelled."""
    from fetalviewer.validate import datasets, modelrun
    from fetalviewer.validate.published import PublishedData
    from fetalviewer.validate.report import write_reports

    if request.job == "planes":
        dataset = datasets.read_planes_db(request.data_dir, request.split)
    else:
        dataset = datasets.read_hc18_training(request.data_dir, need_annotations=request.job == "hc")
    if request.published_dir is not None:
        PublishedData(request.published_dir)  # a wrong folder is refused before the model loads
    out = request.output_dir

    def load():
        control.start("loading model", 0, 1)
        engine = modelrun.open_engine(
            request.model, request.weights, request.config, request.device, request.precision
        )
        control.advance(1, 1)
        return engine

    if request.job == "planes":
        from fetalviewer.validate.planes import run_planes

        result = run_planes(dataset, load(), out, control, request.published_dir, request.batch_size, request.resamples)
    elif request.job == "ga":
        from fetalviewer.validate.ga import run_ga

        result = run_ga(dataset, load(), out, control, request.published_dir, request.batch_size)
    else:
        from fetalviewer.errors import FetalViewerError
        from fetalviewer.validate.hc import run_hc

        engine, note = None, ""
        if _installed_seg_heads():
            try:
                engine = load()
            except FetalViewerError as exc:
                note = f"the FetalCLIP weights could not be loaded ({exc})"
        else:
            note = "no FetalCLIP segmentation head is installed (fetalviewer train-head seg ...)"
        result = run_hc(dataset, out, control, engine, note)
    json_path, pdf_path = write_reports(result, out)
    return JobOutcome(result, json_path, pdf_path)
