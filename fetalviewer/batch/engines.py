"""Batch engines: the same per-file work (:class:`~fetalviewer.batch.worker.FileAnalyzer`) run in process
(``local``) or on Ray actors (``ray``, :mod:`fetalviewer.batch.ray_engine`).

An engine is started (models loaded, :attr:`model_name` and :attr:`weights_sha256` known), then
:meth:`results` streams one :class:`~fetalviewer.batch.worker.FileResult` per task, in any order, and
:meth:`close` releases everything (also after Ctrl-C).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fetalviewer.batch.worker import FileAnalyzer, FileResult, FileTask, ModelSpec

ENGINE_CHOICES = ("local", "ray")


class LocalEngine:
    """In process: one :class:`FileAnalyzer` on the app's inference service (its worker thread owns the
    model); files are analysed one after the other, each file's next chunk decoded while the model runs."""

    name = "local"

    def __init__(self, spec: ModelSpec, step: int) -> None:
        self.spec = spec
        self.step = step
        self.analyzer: FileAnalyzer | None = None
        self.n_workers = 1

    def start(self) -> None:
        self.analyzer = FileAnalyzer(self.spec, self.step)

    @property
    def model_name(self) -> str:
        return self.analyzer.model_name

    @property
    def weights_sha256(self) -> str:
        return self.analyzer.info.weights_sha256

    @property
    def device(self) -> str:
        return self.analyzer.info.device

    def results(self, tasks: Iterable[FileTask]) -> Iterator[FileResult]:
        for task in tasks:
            yield self.analyzer.analyze(task)

    def close(self) -> None:
        if self.analyzer is not None:
            self.analyzer.close()
            self.analyzer = None


def make_engine(
    name: str,
    spec: ModelSpec,
    step: int,
    ray_address: str | None = None,
    workers: int | None = None,
):
    """The engine called ``name`` (not started)."""
    if name == "local":
        return LocalEngine(spec, step)
    if name == "ray":
        from fetalviewer.batch.ray_engine import RayEngine

        return RayEngine(spec, step, address=ray_address, workers=workers)
    raise ValueError(f"engine must be one of {ENGINE_CHOICES}, got {name!r}")
