"""The durable job store: creation, leases with attempt counting, terminal states.

A job's life::

    queued --claim--> running (stage fetch -> infer -> push) --> succeeded | failed

``attempts`` counts worker starts and is committed *before* a worker runs, so a
worker that crashes (or takes the service down with it) is counted even though it
never reports back; at ``max_attempts`` the job fails instead of blocking the queue.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from medcam.export.result_set import ALL_OUTPUTS
from service.errors import ServiceError
from service.jobs.db import Database
from service.jobs.models import Job, JobState, Stage

__all__ = ["JobStore", "NewJob", "OutputInstance"]


@dataclass(frozen=True)
class NewJob:
    """What is known about a job when it is accepted."""

    id: str
    source: str
    model: str
    method: str
    outputs: str = ",".join(ALL_OUTPUTS)
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    n_inputs: int = 0
    dedup_key: str | None = None
    stage: Stage = "infer"


@dataclass(frozen=True)
class OutputInstance:
    """One object to push (path relative to the job's output folder)."""

    sop_instance_uid: str
    study_instance_uid: str
    path: str
    kind: str = "sc"
    sop_class_uid: str | None = None


class JobStore:
    """Job rows in :class:`~service.jobs.db.Database`.

    Args:
        db: the database.

    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, new: NewJob) -> tuple[Job, bool]:
        """Insert a queued job; committed and synced when this returns.

        Returns:
            The job and ``True``; or, when a job with the same ``dedup_key`` exists and
            has not failed, that job and ``False``.

        """
        now = time.time()
        return self._insert_unless_duplicate(
            new,
            "INSERT INTO jobs (id, state, stage, source, study_instance_uid,"
            " series_instance_uid, model, method, outputs, dedup_key, n_inputs,"
            " created_at, updated_at)"
            " VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (new.id, new.stage, new.source, new.study_instance_uid,
             new.series_instance_uid, new.model, new.method, new.outputs,
             new.dedup_key, new.n_inputs, now, now))

    def _insert_unless_duplicate(self, new: NewJob, sql: str,
                                 params: tuple[Any, ...]) -> tuple[Job, bool]:
        """Run the INSERT of ``new``; on a ``dedup_key`` clash return the live twin.

        Returns the inserted job and ``True``; or the existing job with the same
        ``dedup_key`` that has not failed, and ``False``.
        """
        try:
            with self.db.tx() as c:
                c.execute(sql, params)
        except sqlite3.IntegrityError:
            row = self.db.read().execute(
                "SELECT * FROM jobs WHERE dedup_key = ? AND state != 'failed'",
                (new.dedup_key,)).fetchone()
            if row is None:
                raise
            return Job.from_row(row), False
        return self._must_get(new.id), True

    def _must_get(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job is None:  # written in this process a moment ago
            raise ServiceError(f"job {job_id} vanished from the job store")
        return job

    def get(self, job_id: str) -> Job | None:
        """Return the job with this id, if any."""
        row = self.db.read().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return Job.from_row(row) if row else None

    def list_jobs(self, state: JobState | None = None, limit: int = 100) -> list[Job]:
        """Jobs, newest first, optionally of one state."""
        if state is None:
            rows = self.db.read().execute(
                "SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        else:
            rows = self.db.read().execute(
                "SELECT * FROM jobs WHERE state = ? ORDER BY created_at DESC LIMIT ?",
                (state, limit)).fetchall()
        return [Job.from_row(r) for r in rows]

    def ids(self) -> set[str]:
        """Every job id."""
        return {r[0] for r in self.db.read().execute("SELECT id FROM jobs")}

    def claim_next(self, owner: str, lease_s: float, max_attempts: int) -> Job | None:
        """Lease the oldest job that needs a worker (fetch or inference), counting an attempt.

        A job whose attempts are already exhausted (its earlier workers crashed) is
        failed here instead of being run again.
        """
        while True:
            now = time.time()
            with self.db.tx() as c:
                row = c.execute(
                    "SELECT * FROM jobs WHERE stage IN ('fetch', 'infer') AND ((state = 'queued'"
                    " AND not_before <= ?) OR (state = 'running' AND lease_until < ?))"
                    " ORDER BY created_at LIMIT 1", (now, now)).fetchone()
                if row is None:
                    return None
                if row["attempts"] >= max_attempts:
                    self._fail(c, row["id"], f"worker crashed or was lost {row['attempts']} "
                               f"times (limit {max_attempts}); job quarantined", now)
                    continue
                c.execute(
                    "UPDATE jobs SET state = 'running', lease_owner = ?, lease_until = ?,"
                    " attempts = attempts + 1, started_at = COALESCE(started_at, ?),"
                    " updated_at = ? WHERE id = ?",
                    (owner, now + lease_s, now, now, row["id"]))
            return self._must_get(row["id"])

    def renew_lease(self, job_id: str, owner: str, lease_s: float) -> bool:
        """Extend a lease this owner holds; ``False`` if it lost the lease."""
        now = time.time()
        with self.db.tx() as c:
            cur = c.execute(
                "UPDATE jobs SET lease_until = ?, updated_at = ? WHERE id = ? AND"
                " lease_owner = ? AND state = 'running'", (now + lease_s, now, job_id, owner))
            return cur.rowcount == 1

    def set_stage(self, job_id: str, stage: Stage, **fields: str | int | None) -> None:
        """Move a running job to another stage, updating simple columns."""
        allowed = {"n_inputs", "study_instance_uid", "series_instance_uid"}
        if not set(fields) <= allowed:
            raise ValueError(f"cannot set {sorted(set(fields) - allowed)}")
        sets = "".join(f", {k} = ?" for k in fields)
        with self.db.tx() as c:
            c.execute(f"UPDATE jobs SET stage = ?, updated_at = ?{sets} WHERE id = ?",  # noqa: S608
                      (stage, time.time(), *fields.values(), job_id))

    def requeue_or_fail(self, job_id: str, reason: str, max_attempts: int,
                        delay_s: float = 0.0) -> Job:
        """Requeue a job whose worker crashed or could not finish, or fail it for good.

        Args:
            job_id: the job.
            reason: why the attempt ended (no patient data).
            max_attempts: attempts after which the job is quarantined as failed.
            delay_s: earliest retry, seconds from now.

        """
        now = time.time()
        with self.db.tx() as c:
            row = c.execute("SELECT attempts FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row["attempts"] >= max_attempts:
                self._fail(c, job_id, f"{reason}; gave up after {row['attempts']} attempts "
                           f"(limit {max_attempts}); job quarantined", now)
            else:
                c.execute("UPDATE jobs SET state = 'queued', lease_owner = NULL,"
                          " lease_until = NULL, not_before = ?, error = ?, updated_at = ?"
                          " WHERE id = ?", (now + delay_s, reason, now, job_id))
        return self._must_get(job_id)

    def release(self, job_id: str) -> None:
        """Give a claimed job back without counting the attempt (orderly shutdown)."""
        with self.db.tx() as c:
            c.execute("UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL,"
                      " attempts = MAX(0, attempts - 1), updated_at = ? WHERE id = ? AND"
                      " state = 'running'", (time.time(), job_id))

    def fail(self, job_id: str, error: str) -> None:
        """Mark a job failed with a (PHI-free) reason."""
        with self.db.tx() as c:
            self._fail(c, job_id, error, time.time())

    @staticmethod
    def _fail(c: sqlite3.Connection, job_id: str, error: str, now: float) -> None:
        c.execute("UPDATE jobs SET state = 'failed', stage = 'done', error = ?,"
                  " lease_owner = NULL, lease_until = NULL, finished_at = ?, updated_at = ?"
                  " WHERE id = ?", (error[:2000], now, now, job_id))

    def finish_inference(self, job_id: str, result: dict[str, Any],
                         outputs: Sequence[OutputInstance]) -> None:
        """Record the inference result and queue every output for push, atomically."""
        now = time.time()
        with self.db.tx() as c:
            c.execute("UPDATE jobs SET stage = 'push', result = ?, error = NULL,"
                      " lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
                      (json.dumps(result, sort_keys=True, allow_nan=False), now, job_id))
            c.executemany(
                "INSERT OR IGNORE INTO outbox (job_id, sop_instance_uid, study_instance_uid,"
                " path, kind, sop_class_uid, state, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
                [(job_id, o.sop_instance_uid, o.study_instance_uid, o.path, o.kind,
                  o.sop_class_uid, now) for o in outputs])

    def finish_skipped(self, job_id: str, result: dict[str, Any]) -> None:
        """End a job whose every series the routes skipped: succeeded, nothing to push."""
        now = time.time()
        with self.db.tx() as c:
            c.execute("UPDATE jobs SET state = 'succeeded', stage = 'done', result = ?,"
                      " error = NULL, lease_owner = NULL, lease_until = NULL,"
                      " finished_at = ?, updated_at = ? WHERE id = ?",
                      (json.dumps(result, sort_keys=True, allow_nan=False), now, now, job_id))

    def record_skipped(self, new: NewJob, result: dict[str, Any]) -> tuple[Job, bool]:
        """Insert a job that is already done: succeeded, nothing to push, ``result``.

        For a series the intake does not keep (a routed service's non-image series).
        Returns the job and ``True``; or an equal job (same ``dedup_key``, not failed)
        and ``False``.
        """
        now = time.time()
        return self._insert_unless_duplicate(
            new,
            "INSERT INTO jobs (id, state, stage, source, study_instance_uid,"
            " series_instance_uid, model, method, outputs, dedup_key, n_inputs,"
            " result, created_at, updated_at, finished_at)"
            " VALUES (?, 'succeeded', 'done', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (new.id, new.source, new.study_instance_uid, new.series_instance_uid,
             new.model, new.method, new.outputs, new.dedup_key, new.n_inputs,
             json.dumps(result, sort_keys=True, allow_nan=False), now, now, now))

    def recover(self) -> int:
        """At start-up (single process per data folder): requeue jobs whose worker died."""
        with self.db.tx() as c:
            cur = c.execute("UPDATE jobs SET state = 'queued', lease_owner = NULL,"
                            " lease_until = NULL, updated_at = ? WHERE state = 'running' AND"
                            " stage IN ('fetch', 'infer')", (time.time(),))
            return cur.rowcount

    def counts(self) -> dict[str, int]:
        """Count jobs per state."""
        rows = self.db.read().execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        return {r[0]: r[1] for r in rows}

    def durations(self) -> list[tuple[str, float]]:
        """(state, seconds from acceptance to end) of every finished job."""
        rows = self.db.read().execute(
            "SELECT state, finished_at - created_at FROM jobs WHERE finished_at IS NOT NULL")
        return [(r[0], float(r[1])) for r in rows]
