"""Accepted means durable (B-28); the worker dies with the service (B-29 groundwork)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from tests.service.conftest import FAKE_PIPELINE
from tests.service.dicomgen import write_ct
from tests.service.process import ServiceProcess

RUNS = 5


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def test_accepted_job_survives_sigkill_right_after_202(
        service_factory: Callable[..., ServiceProcess], tmp_path: Path) -> None:
    svc = service_factory(MEDCAM_WORKER_PIPELINE=FAKE_PIPELINE, MEDCAM_JOB_MAX_ATTEMPTS="3")
    data = Path(svc.env["MEDCAM_DATA_DIR"])
    accepted: dict[str, set[str]] = {}
    for run in range(RUNS):
        files = write_ct(tmp_path / f"in{run}", f"durable-{run}", slices=2, size=16)
        svc.start()
        r = svc.upload(files)
        svc.kill()
        assert r.status_code == 202
        accepted[r.json()["jobs"][0]["job_id"]] = {
            hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
        db = sqlite3.connect(data / "jobs.sqlite3")
        rows = dict(db.execute("SELECT id, state FROM jobs").fetchall())
        db.close()
        assert set(accepted) <= set(rows)
    svc.start()
    for job_id, digests in accepted.items():
        job = svc.job(job_id)
        assert job["n_inputs"] == len(digests)
        inputs = data / "jobs" / job_id / "input"
        assert {hashlib.sha256(p.read_bytes()).hexdigest() for p in inputs.iterdir()} == digests


def test_worker_dies_with_the_service(service_factory: Callable[..., ServiceProcess],
                                      tmp_path: Path) -> None:
    svc = service_factory(MEDCAM_WORKER_PIPELINE=FAKE_PIPELINE).start()
    assert svc.upload(write_ct(tmp_path / "in", "orphan", slices=2, size=16)).status_code == 202
    deadline = time.monotonic() + 30
    assert svc.proc is not None
    while not (kids := _children(svc.proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert kids, "no worker subprocess was started"
    svc.kill_service_only()
    deadline = time.monotonic() + 5
    while any(Path(f"/proc/{k}").exists() for k in kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [k for k in kids if Path(f"/proc/{k}").exists()
             and "zombie" not in Path(f"/proc/{k}/status").read_text()]
    for k in alive:
        os.kill(k, 9)
    assert alive == []
