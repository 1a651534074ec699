"""A real Orthanc (Debian package ``orthanc`` + ``orthanc-dicomweb`` + ``orthanc-gdcm``) started as a plain
process with its own temporary configuration, storage and loopback ports, and stopped by its PID."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.helpers import dies_with_parent

PLUGINS = Path("/usr/share/orthanc/plugins")
ORTHANC_AET = "ORTHANC"
APP_AET = "FETALVIEWER"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Orthanc:
    process: subprocess.Popen
    http_port: int
    dicom_port: int
    app_port: int  # where Orthanc sends C-MOVE results (the app's AE in DicomModalities)
    folder: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def upload(self, path: str | Path) -> dict:
        reply = requests.post(f"{self.url}/instances", data=Path(path).read_bytes(), timeout=30)
        reply.raise_for_status()
        return reply.json()

    def get(self, route: str):
        reply = requests.get(f"{self.url}{route}", timeout=30)
        reply.raise_for_status()
        return reply.json()

    def find_instance(self, sop_uid: str) -> str | None:
        found = requests.post(f"{self.url}/tools/lookup", data=sop_uid, timeout=30).json()
        return next((f["ID"] for f in found if f["Type"] == "Instance"), None)

    def instance_file(self, orthanc_id: str) -> bytes:
        return requests.get(f"{self.url}/instances/{orthanc_id}/file", timeout=30).content

    def define_modality(self, name: str, aet: str, port: int) -> None:
        body = {"AET": aet, "Host": "127.0.0.1", "Port": port}
        requests.put(f"{self.url}/modalities/{name}", json=body, timeout=30).raise_for_status()

    def store_to(self, modality: str, orthanc_ids: list[str]) -> requests.Response:
        return requests.post(f"{self.url}/modalities/{modality}/store", json={"Resources": orthanc_ids,
                                                                              "Synchronous": True}, timeout=60)


def _config(folder: Path, http_port: int, dicom_port: int, app_port: int) -> dict:
    return {
        "Name": "FetalViewerTest",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ORTHANC_AET,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpServerEnabled": True,
        "DicomServerEnabled": True,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True,
        "UnknownSopClassAccepted": True,
        "StableAge": 1,
        "Plugins": [str(PLUGINS / "libOrthancDicomWeb.so"), str(PLUGINS / "libOrthancGdcm.so")],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True},
        "Gdcm": {"Enable": True},
        "DicomModalities": {"fetalviewer": [APP_AET, "127.0.0.1", app_port]},
        "ConcurrentJobs": 1,
    }


@contextlib.contextmanager
def run_orthanc(folder: Path):
    if shutil.which("Orthanc") is None:
        pytest.skip("Orthanc is not installed (apt-get install orthanc orthanc-dicomweb orthanc-gdcm)")
    http_port, dicom_port, app_port = free_port(), free_port(), free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "orthanc.json"
    config.write_text(json.dumps(_config(folder, http_port, dicom_port, app_port), indent=2))
    log = open(folder / "orthanc.log", "wb")
    process = subprocess.Popen(dies_with_parent(["Orthanc", str(config)]), stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)  # fmt: skip
    server = Orthanc(process, http_port, dicom_port, app_port, folder)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"Orthanc exited at start: {(folder / 'orthanc.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{server.url}/system", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("Orthanc did not answer within 30 s")
            time.sleep(0.1)
        plugins = requests.get(f"{server.url}/plugins", timeout=5).json()
        assert "dicom-web" in plugins and "gdcm" in plugins, plugins
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
        log.close()
