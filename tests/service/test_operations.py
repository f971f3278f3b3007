"""Service operations (issue 12, findings 4 and 6): private data folder, retention, re-push.

Real service processes (fake pipeline, so no torch) and a real Orthanc that is down
while the first push is tried and up for the re-push.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from service.jobs.db import Database
from service.jobs.retention import Retention
from service.jobs.store import JobStore, NewJob
from service.main import create_app
from service.settings import Settings
from service.spool import Spool
from tests.service.conftest import AUTH, FAKE_PIPELINE
from tests.service.dicomgen import write_ct
from tests.service.orthanc import Orthanc, free_port
from tests.service.process import ServiceProcess


def _loose_modes(root: Path) -> list[str]:
    """Entries below ``root`` (and ``root``) that group or others can access."""
    loose = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_IMODE(mode) & 0o077:
            loose.append(f"{path.relative_to(root.parent)} {stat.S_IMODE(mode):o}")
    return loose


def _wait_gone(path: Path, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not path.exists()


def test_failed_push_is_kept_private_repushed_once_pacs_is_up_then_deleted(
        service_factory: Callable[..., ServiceProcess], tmp_path: Path) -> None:
    orthanc = Orthanc(tmp_path / "orthanc")  # ports chosen, not started: the PACS is down
    svc = service_factory(
        orthanc, MEDCAM_WORKER_PIPELINE=FAKE_PIPELINE, MEDCAM_PUSH_MAX_ATTEMPTS="2",
        MEDCAM_PUSH_BACKOFF_S="0.1", MEDCAM_PUSH_BACKOFF_MAX_S="0.2",
        MEDCAM_RETENTION_SWEEP_S="0.2").start()
    data = Path(svc.env["MEDCAM_DATA_DIR"])
    try:
        r = svc.upload(write_ct(tmp_path / "in", "repush", slices=3, size=16))
        assert r.status_code == 202, r.text
        job_id = r.json()["jobs"][0]["job_id"]
        failed = svc.wait_job(job_id, 60)
        assert failed["state"] == "failed" and failed["stage"] == "done", failed
        assert failed["objects"] == {"sc": {"failed_retryable": 3}}
        assert {p["attempts"] for p in failed["push"]} == {2}
        # a failed job keeps its folder (MEDCAM_FAILED_RETENTION_HOURS), owner-only
        folder = data / "jobs" / job_id
        time.sleep(0.5)  # a few retention sweeps
        assert sorted(p.name for p in folder.iterdir()) == ["input", "output"]
        assert len(list((folder / "output").rglob("*.dcm"))) == 3
        assert _loose_modes(data) == []
        assert {p.name for p in data.iterdir()} >= {"jobs.sqlite3", "service.lock", "spool"}

        # not re-pushable: unknown id, no token
        assert svc.get("/v1/jobs/" + "0" * 32).status_code == 404
        assert httpx.post(f"{svc.url}/v1/jobs/{'0' * 32}/push", headers=svc.headers,
                          timeout=10).status_code == 404
        assert httpx.post(f"{svc.url}/v1/jobs/{job_id}/push", timeout=10).status_code == 401

        orthanc.start()
        r = httpx.post(f"{svc.url}/v1/jobs/{job_id}/push", headers=svc.headers, timeout=10)
        assert r.status_code == 202, r.text
        assert (r.json()["state"], r.json()["stage"]) == ("running", "push")
        done = svc.wait_job(job_id, 60)
        assert done["state"] == "succeeded", done
        assert done["objects"] == {"sc": {"stored": 3}}
        assert done["attempts"] == 1  # inference ran once
        assert done["error"] is None
        assert len(orthanc.get("/instances")) == 3
        # a succeeded job is not re-pushable; its folder goes (MEDCAM_RETENTION_HOURS=0)
        again = httpx.post(f"{svc.url}/v1/jobs/{job_id}/push", headers=svc.headers, timeout=10)
        assert again.status_code == 409
        assert _wait_gone(folder)
        assert svc.job(job_id)["state"] == "succeeded"  # the row (no images) stays
        assert _loose_modes(data) == []
    finally:
        orthanc.kill()


def test_succeeded_job_folder_is_kept_for_the_retention_time(
        make_settings: Callable[..., Settings], orthanc: Orthanc, tmp_path: Path) -> None:
    settings = make_settings(pacs_port=orthanc.dicom_port, pacs_aet=orthanc.aet,
                             retention_hours=1.0, retention_sweep_s=0.1)
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/studies", headers=AUTH, files=[
            ("f", (f.name, f.read_bytes(), "application/dicom"))
            for f in write_ct(tmp_path / "in", "keep", slices=2, size=16)])
        job_id = r.json()["jobs"][0]["job_id"]
        runtime = c.app.state.runtime  # type: ignore[attr-defined]
        deadline = time.monotonic() + 60
        while c.get(f"/v1/jobs/{job_id}", headers=AUTH).json()["state"] != "succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)
        folder = settings.data_dir / "jobs" / job_id
        assert folder.is_dir()
        job = runtime.store.get(job_id)
        assert runtime.retention.sweep(now=job.finished_at + 3599) == 0
        assert folder.is_dir()
        assert runtime.retention.sweep(now=job.finished_at + 3601) == 1
        assert not folder.exists()


def test_repush_refused_for_inference_failures_and_expired_folders(
        make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = make_settings(pacs_port=free_port(), push_max_attempts=1,
                             failed_retention_hours=0.0, retention_sweep_s=0.1)
    with TestClient(create_app(settings)) as c:
        def upload(seed: str, **extra: str) -> str:
            files = write_ct(tmp_path / seed, seed, slices=2, size=16, extra=extra)
            r = c.post("/v1/studies", headers=AUTH, files=[
                ("f", (f.name, f.read_bytes(), "application/dicom")) for f in files])
            return str(r.json()["jobs"][0]["job_id"])

        def wait(job_id: str) -> dict[str, object]:
            deadline = time.monotonic() + 60
            while (job := c.get(f"/v1/jobs/{job_id}", headers=AUTH).json())["state"] not in (
                    "succeeded", "failed"):
                assert time.monotonic() < deadline
                time.sleep(0.1)
            return dict(job)

        bad = upload("badgeom", SeriesDescription="BADGEOMETRY")
        pushed = upload("nopacs")
        assert wait(bad)["stage"] == "done"
        assert wait(pushed)["state"] == "failed"
        assert c.post(f"/v1/jobs/{bad}/push", headers=AUTH).status_code == 409
        assert _wait_gone(settings.data_dir / "jobs" / pushed)
        r = c.post(f"/v1/jobs/{pushed}/push", headers=AUTH)
        assert r.status_code == 409
        assert "retention" in r.json()["detail"]
        assert c.post("/v1/jobs/not-a-job/push", headers=AUTH).status_code == 404


def test_umask_of_the_service_process(service_factory: Callable[..., ServiceProcess]) -> None:
    svc = service_factory(MEDCAM_WORKER_PIPELINE=FAKE_PIPELINE).start()
    assert svc.proc is not None
    status = Path(f"/proc/{svc.proc.pid}/status").read_text()
    assert "Umask:\t0077" in status
    assert Path(svc.env["MEDCAM_DATA_DIR"]).stat().st_mode & 0o777 == 0o700


def test_retention_sweep_never_touches_unfinished_or_unrecorded_folders(tmp_path: Path) -> None:
    db = Database(tmp_path / "jobs.sqlite3")
    store, spool = JobStore(db), Spool(tmp_path / "data")
    spool.ensure_dirs()
    queued = store.create(NewJob(id="1" * 32, source="upload", model="m", method="gradcam"))[0]
    done = store.create(NewJob(id="2" * 32, source="upload", model="m", method="gradcam"))[0]
    store.fail(done.id, "pipeline error")
    for job_id in (queued.id, done.id, "3" * 32):  # the last one has no row (being queued)
        spool.new_job_dir(job_id)
        (spool.input_dir(job_id) / "x.dcm").write_bytes(b"x")
    retention = Retention(db, spool, succeeded_s=0.0, failed_s=3600.0)
    finished = store.get(done.id).finished_at  # type: ignore[union-attr]
    assert retention.sweep(now=finished + 3599) == 0
    assert retention.sweep(now=finished + 3601 + 1e6) == 1
    assert sorted(p.name for p in spool.jobs_dir.iterdir()) == ["1" * 32, "3" * 32]
