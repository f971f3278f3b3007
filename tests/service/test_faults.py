"""Crashes with the real pipeline and a real Orthanc (B-21, B-22, B-29).

* 20 jobs while the service is SIGKILLed three times and restarted: every job
  succeeds and Orthanc holds exactly one copy of every output instance;
* Orthanc SIGKILLed in the middle of a push and restarted: the push completes, with
  no instance missing or duplicated.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.service.dicomgen import write_ct
from tests.service.orthanc import Orthanc
from tests.service.process import ServiceProcess

LOGGER = logging.getLogger(__name__)
N_JOBS = 20
SLICES = 8
KILL_AFTER = (3, 8, 14)  # kill the service once this many jobs have finished


def _states(svc: ServiceProcess, ids: list[str]) -> dict[str, dict[str, Any]]:
    return {i: svc.job(i) for i in ids}


def _finished(jobs: dict[str, dict[str, Any]]) -> int:
    return sum(j["state"] in ("succeeded", "failed") for j in jobs.values())


def _wait_finished(svc: ServiceProcess, ids: list[str], n: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _finished(_states(svc, ids)) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} jobs finished in time")


@pytest.mark.slow
def test_twenty_jobs_survive_service_sigkills(
        orthanc: Orthanc, service_factory: Callable[..., ServiceProcess],
        tmp_path: Path) -> None:
    svc = service_factory(orthanc).start()
    ids = []
    for n in range(N_JOBS):
        r = svc.upload(write_ct(tmp_path / f"ct{n}", f"kill-{n}", slices=SLICES))
        assert r.status_code == 202, r.text
        ids.append(r.json()["jobs"][0]["job_id"])
    rng = random.Random(20)
    for k, threshold in enumerate(KILL_AFTER):
        _wait_finished(svc, ids, threshold, timeout_s=180)
        time.sleep(rng.uniform(0.0, 0.6))
        if k == 1:
            svc.kill_service_only()  # the worker must notice and die by itself
        else:
            svc.kill()
        svc.start()
    _wait_finished(svc, ids, N_JOBS, timeout_s=240)
    jobs = _states(svc, ids)
    assert {i: j["state"] for i, j in jobs.items()} == dict.fromkeys(ids, "succeeded")
    expected = [u for j in jobs.values() for u in j["output_sop_instance_uids"]]
    stored = orthanc.sop_instance_uids()
    duplicates = sum(n - 1 for n in Counter(stored).values())
    LOGGER.warning("fault test: %d jobs, %d service kills, %d instances stored, %d duplicates, "
                   "%d extra inference attempts", N_JOBS, len(KILL_AFTER), len(stored),
                   duplicates, sum(j["attempts"] - 1 for j in jobs.values()))
    sc = [p for j in jobs.values() for p in j["push"] if p["kind"] == "sc"]
    assert len(sc) == N_JOBS * SLICES  # plus each job's PM, SR, KOS (and SEG if a region)
    assert duplicates == 0
    assert sorted(stored) == sorted(expected)
    # one series per kind written (a job without a SEG region has no SEG series)
    n_series = sum(len({p["kind"] for p in j["push"]}) for j in jobs.values())
    assert orthanc.statistics()["CountSeries"] == n_series


@pytest.mark.parametrize("push", ["dimse", "dicomweb"])
def test_orthanc_killed_during_push(orthanc: Orthanc,
                                    service_factory: Callable[..., ServiceProcess],
                                    tmp_path: Path, push: str) -> None:
    slices = 24
    svc = service_factory(orthanc, MEDCAM_PUSH=push, MEDCAM_PUSH_BATCH_SIZE="2",
                          MEDCAM_PUSH_MAX_ATTEMPTS="20").start()
    r = svc.upload(write_ct(tmp_path / "ct", f"pacs-crash-{push}", slices=slices, size=64))
    job_id = r.json()["jobs"][0]["job_id"]
    deadline = time.monotonic() + 180
    while orthanc.statistics()["CountInstances"] == 0:
        assert time.monotonic() < deadline, "the push never started"
        time.sleep(0.02)
    orthanc.kill()
    at_kill = svc.job(job_id)
    stored_at_kill = sum(p["state"] == "stored" for p in at_kill["push"])
    time.sleep(2)
    orthanc.start()
    job = svc.wait_job(job_id, timeout_s=120)
    assert job["state"] == "succeeded", job
    n_objects = len(job["output_sop_instance_uids"])
    assert stored_at_kill < n_objects, "Orthanc was killed only after the push had finished"
    stored = orthanc.sop_instance_uids()
    assert sorted(stored) == sorted(job["output_sop_instance_uids"])
    assert sum(p["kind"] == "sc" for p in job["push"]) == slices
    assert any(p["attempts"] > 1 for p in job["push"])
