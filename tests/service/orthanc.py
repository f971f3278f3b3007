"""A real Orthanc (Debian package) on loopback ports, for the integration tests.

Tests that use it FAIL when Orthanc or its DICOMweb plugin is missing: CI installs
``orthanc`` and ``orthanc-dicomweb`` with apt.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

PLUGIN_CANDIDATES = (
    Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so"),
    Path("/usr/lib/orthanc/libOrthancDicomWeb.so"),
)


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def orthanc_binary() -> str:
    """Path of the Orthanc executable (fails the test when missing)."""
    found = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists()
                                        else None)
    if found is None:
        raise RuntimeError("Orthanc is not installed: apt-get install orthanc orthanc-dicomweb")
    return found


def dicomweb_plugin() -> Path:
    """Path of the DICOMweb plugin (fails the test when missing)."""
    for p in PLUGIN_CANDIDATES:
        if p.exists():
            return p
    raise RuntimeError("the Orthanc DICOMweb plugin is not installed: apt-get install "
                       "orthanc-dicomweb")


class Orthanc:
    """One Orthanc process with its own storage folder, config and ports."""

    def __init__(self, root: Path, *, modalities: dict[str, list[Any]] | None = None,
                 overwrite: bool = False, aet: str = "ORTHANC") -> None:
        self.root = root
        self.aet = aet
        self.http_port, self.dicom_port = free_port(), free_port()
        self.modalities = modalities or {}
        self.overwrite = overwrite
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "orthanc.log"
        root.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        """REST root."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        """DICOMweb root."""
        return f"{self.url}/dicom-web"

    def write_config(self) -> Path:
        config = {
            "Name": "medcam-test", "StorageDirectory": str(self.root / "storage"),
            "IndexDirectory": str(self.root / "storage"), "HttpPort": self.http_port,
            "DicomPort": self.dicom_port, "DicomAet": self.aet, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "HttpServerEnabled": True,
            "DicomServerEnabled": True, "Plugins": [str(dicomweb_plugin())],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False,
                         "Ssl": False, "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
            "DicomModalities": self.modalities, "OverwriteInstances": self.overwrite,
            "SyncStorageArea": True, "StorageCompression": False, "DicomCheckCalledAet": False,
            "DicomAlwaysAllowStore": True, "DicomAlwaysAllowEcho": True, "StableAge": 2,
            "ConcurrentJobs": 1, "HttpTimeout": 30, "DicomScuTimeout": 10,
            "DicomScpTimeout": 30, "SaveJobs": False, "LimitFindResults": 0,
            "StorageAccessOnFind": "Always", "HttpsVerifyPeers": False,
        }
        path = self.root / "orthanc.json"
        path.write_text(json.dumps(config, indent=2))
        return path

    def start(self, timeout_s: float = 30.0) -> None:
        """Start and wait until the REST API answers."""
        cfg = self.write_config()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([orthanc_binary(), str(cfg)], stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.root,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/system", timeout=1).status_code == 200:
                    self._wait_dicom(deadline)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("Orthanc did not start in time")

    def _wait_dicom(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.dicom_port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL (a crash, not a shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """Terminate and wait."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    # REST helpers ------------------------------------------------------------
    def get(self, path: str) -> Any:
        r = httpx.get(f"{self.url}{path}", timeout=30)
        r.raise_for_status()
        return r.json()

    def upload(self, files: list[Path]) -> None:
        """Store files through the REST API."""
        with httpx.Client(timeout=30) as client:
            for f in files:
                client.post(f"{self.url}/instances", content=f.read_bytes()).raise_for_status()

    def sop_instance_uids(self) -> list[str]:
        """SOP Instance UID of every stored instance (one entry per stored copy)."""
        uids = []
        for instance_id in self.get("/instances"):
            tags = self.get(f"/instances/{instance_id}/simplified-tags")
            uids.append(tags["SOPInstanceUID"])
        return uids

    def series_of_study(self, study_uid: str) -> list[dict[str, Any]]:
        """Series (with MainDicomTags and Instances) of the study with this UID."""
        found = httpx.post(f"{self.url}/tools/lookup", content=study_uid, timeout=30).json()
        studies = [f["ID"] for f in found if f["Type"] == "Study"]
        if not studies:
            return []
        return self.get(f"/studies/{studies[0]}/series")

    def statistics(self) -> dict[str, Any]:
        return self.get("/statistics")
