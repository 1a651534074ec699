"""``--engine ray``: Ray core actors, one model replica per worker, files streamed to them.

Each actor builds one :class:`~fetalviewer.batch.worker.FileAnalyzer` when it starts (the model is loaded
once per worker from the weights path, never sent over the network) and then analyses one file per call;
only the file's path goes out and only its rows come back. Ray's :class:`ray.util.ActorPool` hands the
files to the actors (each actor is in the pool twice, so it always has its next file queued while the
driver handles a result). A worker that dies is restarted by Ray and its call retried
(``max_restarts=-1``, ``max_task_retries``); a file on which the worker dies every time is reported as a
problem, never lost silently.

On a GPU cluster the default is one worker per GPU; ``--workers`` above the GPU count puts several
workers (model replicas) on each GPU (fractional ``num_gpus``), which is what keeps a GPU busy when frame
decoding and preprocessing on one CPU core are the bottleneck.

Without ``--ray-address`` a local Ray runtime is started (``ray.init``); with it the driver joins that
cluster (started elsewhere with ``ray start --head``), after checking within seconds that its port
answers. The workers must see the files and the weights at the same paths as the driver (a shared
filesystem) and have the same FetalViewer and Ray versions installed.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

from fetalviewer.batch.worker import FileAnalyzer, FileResult, FileTask, ModelSpec
from fetalviewer.errors import FetalViewerError

INSTALL_HINT = "pip install 'fetalviewer[cluster]' (in a checkout: pip install -e '.[cluster]')"
#: What a user asking for the Ray engine without Ray is told (command line and window).
NOT_INSTALLED = f"--engine ray needs Ray, which is not installed: {INSTALL_HINT}"
#: Seconds to wait for the cluster's port before calling it unreachable.
CONNECT_TIMEOUT_S = 5.0
#: Times a file is retried on a restarted worker after the worker died on it.
TASK_RETRIES = 2
#: Object store of a local runtime (results are small rows; frames never travel).
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024
#: For tests: a file whose existence makes the next worker call delete it and kill its own process.
FAULT_ENV = "FETALVIEWER_BATCH_FAULT_ONCE"

log = logging.getLogger(__name__)


class RayUnavailable(FetalViewerError):
    """Ray is not installed, or the cluster cannot be reached or used."""


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable(NOT_INSTALLED) from exc
    return ray


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port), or RayUnavailable naming the bad value."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayUnavailable(f"--ray-address {address!r}: expected HOST:PORT (e.g. 10.0.0.5:6379)")
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    host, port = parse_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise RayUnavailable(f"Ray cluster at {address} is unreachable ({exc})") from exc


def _absolute(path: str | None) -> str | None:
    """Workers start in other folders: file options travel as absolute paths."""
    return None if path is None else os.path.abspath(os.path.expanduser(path))


def _use_token_auth_if_available() -> None:
    """``ray start`` turns token authentication on when a token exists (``RAY_AUTH_TOKEN`` or
    ``~/.ray/auth_token``), but a driver joining by address sends it only in token mode; switch to it
    when the user has a token and chose no ``RAY_AUTH_MODE`` (Ray's own helper where this Ray has one)."""
    if os.environ.get("RAY_AUTH_MODE"):
        return
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # a Ray without token authentication
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


class BatchActor:
    """The body of one Ray worker (wrapped with ``ray.remote`` by :class:`RayEngine`)."""

    def __init__(self, spec: ModelSpec, step: int, threads: int, fault_marker: str | None) -> None:
        import torch

        self.fault_marker = fault_marker
        self.error: str | None = None
        self.analyzer: FileAnalyzer | None = None
        try:
            self.analyzer = FileAnalyzer(spec, step)
        except (FetalViewerError, ValueError) as exc:
            self.error = str(exc)
        torch.set_num_threads(max(1, threads))

    def describe(self) -> dict:
        if self.analyzer is None:
            return {"error": self.error}
        info = self.analyzer.info
        return {
            "model_name": self.analyzer.model_name,
            "weights_sha256": info.weights_sha256,
            "device": info.device,
            "worker": f"{socket.gethostname()}:{os.getpid()}",
        }

    def analyze(self, task: FileTask) -> FileResult:
        if self.fault_marker:
            try:
                os.remove(self.fault_marker)
            except FileNotFoundError:
                pass
            else:
                os._exit(1)  # a worker dying mid-task, as a crash or an OOM kill would
        return self.analyzer.analyze(task)


class RayEngine:
    """See the module docstring."""

    name = "ray"

    def __init__(
        self, spec: ModelSpec, step: int, address: str | None = None, workers: int | None = None
    ) -> None:
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be a positive int, got {workers!r}")
        if address is not None:
            parse_address(address)
        self.spec = spec
        self.step = step
        self.address = address
        self.requested_workers = workers
        self.actors: list = []
        self.n_workers = 0
        self.model_name = ""
        self.weights_sha256 = ""
        self.device = ""
        self._started_ray = False
        self._ray = None

    def start(self) -> None:
        ray = import_ray()
        self._ray = ray
        package_root = str(Path(__file__).resolve().parents[2])
        pythonpath = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
        runtime_env = {"env_vars": {"PYTHONPATH": pythonpath}}
        if self.address:
            check_reachable(self.address)
            _use_token_auth_if_available()
            try:
                ray.init(
                    address=self.address,
                    runtime_env=runtime_env,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                )
            except Exception as exc:  # noqa: BLE001 - Ray raises many kinds; the user needs one line
                raise RayUnavailable(f"cannot join the Ray cluster at {self.address}: {exc}") from exc
        else:
            ray.init(
                num_cpus=os.cpu_count() or 1,
                include_dashboard=False,
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                runtime_env=runtime_env,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        self._started_ray = True
        self._start_actors(ray)

    def _start_actors(self, ray) -> None:
        resources = ray.cluster_resources()
        cpus, gpus = float(resources.get("CPU", 1)), int(resources.get("GPU", 0))
        if self.spec.device.startswith("cuda") and gpus == 0:
            raise RayUnavailable("--device cuda: the Ray cluster has no GPU")
        use_gpu = gpus > 0 and (self.spec.device == "auto" or self.spec.device.startswith("cuda"))
        n = self.requested_workers or (gpus if use_gpu else max(1, int(cpus)))
        num_cpus = min(1.0, cpus / n)  # --workers above the CPU count shares the CPUs
        options = {"num_cpus": num_cpus, "max_restarts": -1, "max_task_retries": TASK_RETRIES}
        if use_gpu:  # more workers than GPUs share them: decoding needs ~13 cores per H200 (docs/batch.md)
            options["num_gpus"] = min(1.0, gpus / n)
        remote_cls = ray.remote(BatchActor).options(**options)
        threads = 1 if not use_gpu else max(1, int(cpus // max(1, n)))
        spec = self.spec
        device = "cuda" if use_gpu and spec.device == "auto" else spec.device
        spec = ModelSpec(
            spec.model, _absolute(spec.weights), _absolute(spec.config), device, spec.batch_size, spec.precision
        )
        fault = os.environ.get(FAULT_ENV)
        self.actors = [remote_cls.remote(spec, self.step, threads, fault) for _ in range(n)]
        described = ray.get([a.describe.remote() for a in self.actors])
        errors = {d["error"] for d in described if d.get("error")}
        if errors:
            raise FetalViewerError("; ".join(sorted(errors)))
        models = {(d["model_name"], d["weights_sha256"]) for d in described}
        if len(models) != 1:
            raise RayUnavailable(f"the Ray workers loaded different models: {sorted(models)}")
        ((self.model_name, self.weights_sha256),) = models
        self.device = ",".join(sorted({d["device"] for d in described}))
        self.n_workers = n

    def results(self, tasks: Iterable[FileTask]) -> Iterator[FileResult]:
        from ray.exceptions import RayError
        from ray.util import ActorPool

        pool = ActorPool(self.actors * 2)
        waiting: dict[str, FileTask] = {}
        for task in tasks:
            waiting[task.path] = task
            pool.submit(lambda actor, t: actor.analyze.remote(t), task)
        failures: list[str] = []
        while pool.has_next():
            try:
                result = pool.get_next_unordered(timeout=1.0)
            except TimeoutError:
                yield None  # a heartbeat: the caller refreshes its progress line
                continue
            except RayError as exc:
                failures.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                continue
            waiting.pop(result.path, None)
            yield result
        for path, task in waiting.items():  # the calls that failed: the worker died on them every time
            reason = failures[0] if failures else "no result"
            yield FileResult(
                path,
                task.fingerprint,
                problem=f"{path}: the Ray worker died on this file {1 + TASK_RETRIES} times ({reason})",
                problem_kind="worker_died",
            )

    def close(self) -> None:
        ray = self._ray
        if ray is None:
            return
        for actor in self.actors:
            try:
                ray.kill(actor)
            except Exception as exc:  # noqa: BLE001 - best effort on the way out
                log.debug("killing a Ray actor failed: %s", exc)
        self.actors = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False
