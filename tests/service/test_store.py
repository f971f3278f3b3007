"""Durable job store and outbox: leases, attempts, quarantine, push settlement."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from medcam.pacs.base import PushOutcome, classify_status
from service.jobs.db import Database
from service.jobs.outbox import Outbox, backoff_delay
from service.jobs.store import JobStore, NewJob, OutputInstance


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "jobs.sqlite3")


def _job(n: int, **kw: object) -> NewJob:
    return NewJob(id=f"{n:032x}", source="upload", model="m", method="gradcam", **kw)


def test_create_is_visible_to_another_connection(db: Database) -> None:
    store = JobStore(db)
    store.create(_job(1, n_inputs=3))
    other = sqlite3.connect(db.path)
    assert other.execute("SELECT state, n_inputs FROM jobs").fetchall() == [("queued", 3)]
    assert db.read().execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_dedup_returns_the_existing_job_until_it_fails(db: Database) -> None:
    store = JobStore(db)
    first, created = store.create(_job(1, dedup_key="k"))
    assert created
    again, created = store.create(_job(2, dedup_key="k"))
    assert (again.id, created) == (first.id, False)
    store.fail(first.id, "boom")
    third, created = store.create(_job(3, dedup_key="k"))
    assert created
    assert third.id != first.id


def test_attempts_are_counted_before_running_and_poison_is_quarantined(db: Database) -> None:
    store = JobStore(db)
    poison = store.create(_job(1))[0]
    behind = store.create(_job(2))[0]
    for attempt in (1, 2, 3):
        job = store.claim_next("w", 60, max_attempts=3)
        assert job is not None
        assert (job.id, job.attempts) == (poison.id, attempt)
        after = store.requeue_or_fail(job.id, "worker process killed by signal 9", 3)
    assert after.state == "failed"
    assert "killed by signal 9" in (after.error or "")
    assert "quarantined" in (after.error or "")
    nxt = store.claim_next("w", 60, max_attempts=3)
    assert nxt is not None
    assert nxt.id == behind.id


def test_lost_workers_count_too(db: Database) -> None:
    store = JobStore(db)
    job = store.create(_job(1))[0]
    for _ in range(3):  # the whole service dies while the job runs
        assert store.claim_next("dead", 60, max_attempts=3) is not None
        assert store.recover() == 1
    assert store.claim_next("w", 60, max_attempts=3) is None
    failed = store.get(job.id)
    assert failed is not None
    assert failed.state == "failed"


def test_expired_lease_is_reclaimed_and_renewal_keeps_it(db: Database) -> None:
    store = JobStore(db)
    store.create(_job(1))
    job = store.claim_next("a", 0.2, 3)
    assert job is not None
    assert store.claim_next("b", 0.2, 3) is None
    assert store.renew_lease(job.id, "a", 0.2)
    time.sleep(0.3)
    stolen = store.claim_next("b", 60, 3)
    assert stolen is not None
    assert stolen.attempts == 2
    assert not store.renew_lease(job.id, "a", 60)


def test_release_does_not_count(db: Database) -> None:
    store = JobStore(db)
    store.create(_job(1))
    job = store.claim_next("a", 60, 3)
    assert job is not None
    store.release(job.id)
    again = store.claim_next("a", 60, 3)
    assert again is not None
    assert again.attempts == 1


def _pushing(db: Database, n: int = 2) -> tuple[JobStore, Outbox, str]:
    store, outbox = JobStore(db), Outbox(db)
    job = store.create(_job(1))[0]
    store.claim_next("w", 60, 3)
    store.finish_inference(job.id, {"results": []}, [
        OutputInstance(f"1.2.{i}", "1.2", f"s/IM{i}.dcm") for i in range(n)])
    return store, outbox, job.id


def test_unknown_is_retried_never_stored(db: Database) -> None:
    store, outbox, job_id = _pushing(db)
    outbox.record(job_id, [PushOutcome("1.2.0", "stored", 0, ""),
                           PushOutcome("1.2.1", "unknown", None, "timeout")], lambda n: 0.0)
    assert outbox.settle(job_id, 3) is None
    job = store.get(job_id)
    assert job is not None
    assert job.state == "running"
    assert [r.sop_instance_uid for r in outbox.due(10)] == ["1.2.1"]
    outbox.record(job_id, [PushOutcome("1.2.1", "stored", 0, "")], lambda n: 0.0)
    assert outbox.settle(job_id, 3) == "succeeded"
    assert outbox.counts() == {"stored": 2}
    assert outbox.failures_total() == 1


def test_permanent_failure_fails_the_job_with_last_status(db: Database) -> None:
    store, outbox, job_id = _pushing(db)
    outbox.record(job_id, [PushOutcome("1.2.0", "stored", 0, ""),
                           PushOutcome("1.2.1", "failed_permanent", 0xC000, "")], lambda n: 0.0)
    assert outbox.settle(job_id, 10) == "failed"
    job = store.get(job_id)
    assert job is not None
    assert "0xC000" in (job.error or "")


def test_retries_exhausted(db: Database) -> None:
    _, outbox, job_id = _pushing(db, n=1)
    for _ in range(3):
        outbox.record(job_id, [PushOutcome("1.2.0", "failed_retryable", 0xA700, "")],
                      lambda n: 0.0)
    assert outbox.settle(job_id, 3) == "failed"
    assert outbox.rows(job_id)[0].state == "failed_retryable"


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_delay(n, 30, 600) for n in range(1, 8)] == [30, 60, 120, 240, 480, 600, 600]


@pytest.mark.parametrize(("code", "state"), [
    (0x0000, "stored"), (0xB000, "stored_with_warning"), (0xB007, "stored_with_warning"),
    (0xA700, "failed_retryable"), (0xA7FF, "failed_retryable"), (0x0110, "failed_retryable"),
    (0xA900, "failed_permanent"), (0xC000, "failed_permanent"), (0x0122, "failed_permanent"),
])
def test_status_classification(code: int, state: str) -> None:
    assert classify_status(code) == state
