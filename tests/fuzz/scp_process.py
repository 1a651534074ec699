"""The app's own Storage SCP (``fetalviewer receive``) as a child process on 127.0.0.1, for the network
fuzz target and the receive memory bench.

The child runs the same command a user starts, with every folder (settings, archive, study database,
log) under a fresh ``FETALVIEWER_HOME`` and its temporary files under its own ``TMPDIR``, so the caller
can inspect what it leaves behind. It is stopped by its PID (SIGTERM, then SIGKILL) even when the caller
fails: use it as a context manager.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import dies_with_parent

ROOT = Path(__file__).resolve().parents[2]
SCP_AET = "FUZZSCP"
#: The calling AE title on the SCP's allow list; anything else must be rejected (PS3.8 9.3.4).
CALLER_AET = "FUZZCART"
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _home_env(home: Path) -> Iterator[None]:
    old = os.environ.get("FETALVIEWER_HOME")
    os.environ["FETALVIEWER_HOME"] = str(home)
    try:
        yield
    finally:
        if old is None:
            del os.environ["FETALVIEWER_HOME"]
        else:
            os.environ["FETALVIEWER_HOME"] = old


class ScpProcess:
    """``fetalviewer receive --aet FUZZSCP --port P --allow CALLER...`` bound to 127.0.0.1 in ``work``."""

    def __init__(
        self, work: Path, allow: tuple[str, ...] = (CALLER_AET,), extra_env: dict | None = None
    ) -> None:
        self.work = Path(work)
        self.home, self.tmp = self.work / "home", self.work / "tmp"
        self.home.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.allow, self.extra_env = allow, dict(extra_env or {})
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        with _home_env(self.home):
            from fetalviewer.paths import user_dirs
            from fetalviewer.settings import update_settings

            update_settings(local_bind_host="127.0.0.1")
            self.data_dir = user_dirs().data_dir
        self.archive_dir = self.data_dir / "archive"
        self.db_path = self.data_dir / "studies.sqlite"

    # -- life cycle ---------------------------------------------------------------------------------
    def start(self) -> ScpProcess:
        env = {**os.environ, "FETALVIEWER_HOME": str(self.home), "TMPDIR": str(self.tmp),
               "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen", **self.extra_env}  # fmt: skip
        argv = dies_with_parent([sys.executable, "-m", "fetalviewer", "receive", "--aet", SCP_AET, "--port",
                                 str(self.port), "--allow", *self.allow])  # fmt: skip
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)  # fmt: skip
        threading.Thread(target=self._pump, daemon=True).start()
        try:
            while True:
                line = self.lines.get(timeout=START_TIMEOUT_S)
                if line.startswith("receiving as"):
                    return self
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"fetalviewer receive did not start: {self.tail()}") from None

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line.rstrip("\n"))
            del self.output[:-400]
            self.lines.put(line)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n: int = 12) -> str:
        return " / ".join(self.output[-n:])

    def peak_rss_mb(self) -> float:
        """The child's peak resident memory so far (VmHWM, PS: Linux /proc)."""
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024

    def rss_mb(self) -> float:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024

    def stop(self) -> int | None:
        """SIGTERM (the command's own clean stop), SIGKILL after 15 s; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        return self.proc.returncode

    def __enter__(self) -> ScpProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
