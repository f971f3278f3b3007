"""Fixtures of the service tests: settings, a real Orthanc, a service subprocess."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from service.settings import Settings
from tests.service.orthanc import Orthanc, free_port
from tests.service.process import ServiceProcess

TOKEN = "test-token-7c1e0d9a4b6f2e81"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
FAKE_PIPELINE = "tests.service.fake_pipelines:copy_as_sc"
#: Model of the real-pipeline tests (read before the MEDCAM_* variables are cleared).
TEST_MODEL = os.environ.get("MEDCAM_TEST_MODEL", "demo-ct3d")
#: Retry delays scaled down from production (30 s x2 up to 10 min).
FAST = {"push_backoff_s": 0.05, "push_backoff_max_s": 0.4, "poll_interval_s": 0.05,
        "series_quiet_s": 0.5, "connection_timeout_s": 2.0, "acse_timeout_s": 3.0,
        "dimse_timeout_s": 10.0, "network_timeout_s": 10.0, "http_timeout_s": 10.0}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("MEDCAM_"):
            monkeypatch.delenv(key)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for an in-process service (fake pipeline, fast retries, free ports)."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data", "http_port": free_port(), "dicom_port": free_port(),
            "api_token": TOKEN, "worker_pipeline": FAKE_PIPELINE, "pacs_port": free_port(),
            **FAST}
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[Orthanc]:
    """A real Orthanc (fails, never skips, when it is not installed)."""
    server = Orthanc(tmp_path / "orthanc")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Start ``python -m service`` subprocesses; all are killed at teardown."""
    started: list[ServiceProcess] = []

    def make(orthanc: Orthanc | None = None, **env: str) -> ServiceProcess:
        values = {"MEDCAM_DATA_DIR": str(tmp_path / "svc-data"),
                  "MEDCAM_HTTP_PORT": str(free_port()), "MEDCAM_DICOM_PORT": str(free_port()),
                  "MEDCAM_API_TOKEN": TOKEN, "MEDCAM_PUSH_BACKOFF_S": "0.2",
                  "MEDCAM_PUSH_BACKOFF_MAX_S": "1", "MEDCAM_POLL_INTERVAL_S": "0.1",
                  "MEDCAM_SERIES_QUIET_S": "1", "MEDCAM_CONNECTION_TIMEOUT_S": "2",
                  "MEDCAM_DIMSE_TIMEOUT_S": "5", "MEDCAM_NETWORK_TIMEOUT_S": "10",
                  "MEDCAM_ACSE_TIMEOUT_S": "5", "MEDCAM_JOB_LEASE_S": "10",
                  "MEDCAM_MODEL": TEST_MODEL}
        if orthanc is not None:
            values.update({"MEDCAM_PACS_AET": orthanc.aet, "MEDCAM_PACS_HOST": "127.0.0.1",
                           "MEDCAM_PACS_PORT": str(orthanc.dicom_port),
                           "MEDCAM_PACS_DICOMWEB": orthanc.dicomweb})
        values.update(env)
        proc = ServiceProcess(values, tmp_path / f"service-{len(started)}.log")
        started.append(proc)
        return proc

    yield make
    for proc in started:
        proc.kill()
