"""Worker subprocess: crash detection, quarantine without head-of-line blocking (B-30)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from service.main import create_app
from service.settings import Settings
from tests.service.conftest import AUTH
from tests.service.dicomgen import CANARY_STRINGS, write_ct
from tests.service.orthanc import Orthanc


def _upload(c: TestClient, files: list[Path]) -> str:
    r = c.post("/v1/studies", headers=AUTH,
               files=[("f", (f.name, f.read_bytes(), "application/dicom")) for f in files])
    assert r.status_code == 202, r.text
    return str(r.json()["jobs"][0]["job_id"])


def _wait(c: TestClient, ids: list[str], timeout_s: float = 90) -> dict[str, dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        jobs = {i: c.get(f"/v1/jobs/{i}", headers=AUTH).json() for i in ids}
        if all(j["state"] in ("succeeded", "failed") for j in jobs.values()):
            return jobs
        time.sleep(0.1)
    raise AssertionError({i: j["state"] for i, j in jobs.items()})


def test_poison_job_is_quarantined_and_the_queue_moves_on(
        make_settings: Callable[..., Settings], orthanc: Orthanc, tmp_path: Path) -> None:
    settings = make_settings(pacs_port=orthanc.dicom_port, pacs_aet=orthanc.aet)
    with TestClient(create_app(settings)) as c:
        poison = _upload(c, write_ct(tmp_path / "poison", "poison", slices=2, size=16,
                                     extra={"SeriesDescription": "CRASH"}))
        behind = [_upload(c, write_ct(tmp_path / f"ok{i}", f"ok{i}", slices=2, size=16))
                  for i in range(10)]
        jobs = _wait(c, [poison, *behind])
        metrics = c.get("/metrics", headers=AUTH).text
    assert jobs[poison]["state"] == "failed"
    assert jobs[poison]["attempts"] == 3
    assert "killed by signal 9" in jobs[poison]["error"]
    assert "quarantined" in jobs[poison]["error"]
    assert [jobs[i]["state"] for i in behind] == ["succeeded"] * 10
    assert "medcam_worker_crashes_total 3" in metrics
    assert len(orthanc.get("/instances")) == 20


def test_pipeline_error_fails_once_without_phi(
        make_settings: Callable[..., Settings], orthanc: Orthanc, tmp_path: Path) -> None:
    settings = make_settings(pacs_port=orthanc.dicom_port, pacs_aet=orthanc.aet)
    with TestClient(create_app(settings)) as c:
        bad = _upload(c, write_ct(tmp_path / "bad", "bad", slices=2, size=16, canary=True,
                                  extra={"SeriesDescription": "BADGEOMETRY"}))
        job = _wait(c, [bad])[bad]
    assert (job["state"], job["attempts"]) == ("failed", 1)
    assert job["error"].startswith("NotAVolumeError")
    assert not any(s in str(job) for s in CANARY_STRINGS)
