"""Per-instance push outcomes (the outbox) and the end of a job's push stage."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence

from medcam.pacs.base import RETRYABLE_STATES, STORED_STATES, PushOutcome
from service.jobs.db import Database
from service.jobs.models import JobState, OutboxRow

__all__ = ["Outbox", "RepushRefusedError", "backoff_delay"]


class RepushRefusedError(Exception):
    """The job cannot be pushed again (its state, or a newer job for the same inputs)."""


def backoff_delay(attempt: int, base_s: float, cap_s: float) -> float:
    """Delay before send number ``attempt + 1``: ``base * 2**(attempt-1)``, capped."""
    return float(min(cap_s, base_s * 2.0 ** max(0, attempt - 1)))


class Outbox:
    """The ``outbox`` table.

    Args:
        db: the database.

    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def due(self, limit: int, now: float | None = None) -> list[OutboxRow]:
        """Instances of pushing jobs whose next send is due, oldest job first."""
        now = time.time() if now is None else now
        rows = self.db.read().execute(
            "SELECT o.* FROM outbox o JOIN jobs j ON j.id = o.job_id WHERE j.state = 'running'"
            " AND j.stage = 'push' AND o.state IN ('pending', 'failed_retryable', 'unknown')"
            " AND o.next_attempt_at <= ? ORDER BY j.created_at, o.path LIMIT ?",
            (now, limit)).fetchall()
        return [OutboxRow.from_row(r) for r in rows]

    def due_jobs(self, now: float | None = None) -> list[str]:
        """Jobs in the push stage with at least one instance due now, oldest first."""
        now = time.time() if now is None else now
        rows = self.db.read().execute(
            "SELECT o.job_id FROM outbox o JOIN jobs j ON j.id = o.job_id WHERE"
            " j.state = 'running' AND j.stage = 'push' AND"
            " o.state IN ('pending', 'failed_retryable', 'unknown') AND o.next_attempt_at <= ?"
            " GROUP BY o.job_id ORDER BY MIN(j.created_at), o.job_id", (now,)).fetchall()
        return [str(r[0]) for r in rows]

    def due_for_job(self, job_id: str, limit: int, now: float | None = None) -> list[OutboxRow]:
        """Up to ``limit`` due instances of one pushing job, in file order."""
        now = time.time() if now is None else now
        rows = self.db.read().execute(
            "SELECT o.* FROM outbox o JOIN jobs j ON j.id = o.job_id WHERE o.job_id = ? AND"
            " j.state = 'running' AND j.stage = 'push' AND"
            " o.state IN ('pending', 'failed_retryable', 'unknown') AND o.next_attempt_at <= ?"
            " ORDER BY o.path LIMIT ?", (job_id, now, limit)).fetchall()
        return [OutboxRow.from_row(r) for r in rows]

    def next_due_at(self) -> float | None:
        """When the earliest waiting instance becomes due (``None``: nothing waits)."""
        row = self.db.read().execute(
            "SELECT MIN(o.next_attempt_at) FROM outbox o JOIN jobs j ON j.id = o.job_id"
            " WHERE j.state = 'running' AND j.stage = 'push' AND"
            " o.state IN ('pending', 'failed_retryable', 'unknown')").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def rows(self, job_id: str) -> list[OutboxRow]:
        """Every output instance of a job."""
        rows = self.db.read().execute(
            "SELECT * FROM outbox WHERE job_id = ? ORDER BY path", (job_id,)).fetchall()
        return [OutboxRow.from_row(r) for r in rows]

    def record(self, job_id: str, outcomes: Sequence[PushOutcome],
               backoff: Callable[[int], float]) -> None:
        """Store outcomes; a retryable or unknown one is due again after ``backoff(n)``."""
        now = time.time()
        with self.db.tx() as c:
            for o in outcomes:
                row = c.execute("SELECT attempts FROM outbox WHERE job_id = ? AND"
                                " sop_instance_uid = ?", (job_id, o.sop_instance_uid)).fetchone()
                if row is None:
                    continue
                attempts = row[0] + 1
                failed = o.state not in STORED_STATES
                due = now + backoff(attempts) if o.state in RETRYABLE_STATES else 0.0
                c.execute(
                    "UPDATE outbox SET state = ?, status_code = ?, detail = ?, attempts = ?,"
                    " failures = failures + ?, next_attempt_at = ?, updated_at = ?"
                    " WHERE job_id = ? AND sop_instance_uid = ?",
                    (o.state, o.status_code, o.detail[:500], attempts, int(failed), due, now,
                     job_id, o.sop_instance_uid))

    def settle(self, job_id: str, max_attempts: int) -> JobState | None:
        """End the job once no instance can be sent again.

        Returns:
            ``"succeeded"`` when every instance is stored, ``"failed"`` when some are
            permanently failed or out of attempts, ``None`` while sends remain.

        """
        rows = self.rows(job_id)
        if any(r.state in RETRYABLE_STATES and r.attempts < max_attempts for r in rows):
            return None
        bad = [r for r in rows if r.state not in STORED_STATES]
        now = time.time()
        if not bad:
            with self.db.tx() as c:
                c.execute("UPDATE jobs SET state = 'succeeded', stage = 'done', error = NULL,"
                          " finished_at = ?, updated_at = ? WHERE id = ? AND state = 'running'",
                          (now, now, job_id))
            return "succeeded"
        by_state = Counter(r.state for r in bad)
        last = next((r.status_code for r in reversed(bad) if r.status_code is not None), None)
        text = ", ".join(f"{n} {s}" for s, n in sorted(by_state.items()))
        status = f"; last status 0x{last:04X}" if last is not None else ""
        error = (f"push failed for {len(bad)} of {len(rows)} instances ({text}) after at most"
                 f" {max_attempts} attempts{status}")
        with self.db.tx() as c:
            c.execute("UPDATE jobs SET state = 'failed', stage = 'done', error = ?,"
                      " finished_at = ?, updated_at = ? WHERE id = ? AND state = 'running'",
                      (error, now, now, job_id))
        return "failed"

    def reopen(self, job_id: str) -> int:
        """Send a failed push again, without re-running inference.

        Every instance not stored goes back to ``pending`` with a fresh attempt budget
        and the job returns to ``running`` in the push stage; stored ones are kept.

        Returns:
            How many instances will be sent again.

        Raises:
            RepushRefusedError: the job has not failed, failed before its push stage (no
                output to send), has nothing left to send, or a newer job for the same
                inputs exists.

        """
        now = time.time()
        try:
            with self.db.tx() as c:
                job = c.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
                if job is None or job["state"] != "failed":
                    raise RepushRefusedError("only a job whose push failed can be re-pushed")
                cur = c.execute(
                    "UPDATE outbox SET state = 'pending', attempts = 0, status_code = NULL,"
                    " detail = NULL, next_attempt_at = 0, updated_at = ? WHERE job_id = ?"
                    " AND state NOT IN ('stored', 'stored_with_warning')", (now, job_id))
                if cur.rowcount == 0:
                    raise RepushRefusedError("the job has no output instance left to push")
                c.execute("UPDATE jobs SET state = 'running', stage = 'push', error = NULL,"
                          " finished_at = NULL, updated_at = ? WHERE id = ?", (now, job_id))
        except sqlite3.IntegrityError as exc:
            raise RepushRefusedError("a newer job for the same inputs exists") from exc
        return int(cur.rowcount)

    def counts(self) -> dict[str, int]:
        """Count output instances per outbox state."""
        rows = self.db.read().execute("SELECT state, COUNT(*) FROM outbox GROUP BY state")
        return {r[0]: r[1] for r in rows}

    def failures_total(self) -> int:
        """Count sends that did not end in ``stored`` (every attempt counted)."""
        row = self.db.read().execute("SELECT COALESCE(SUM(failures), 0) FROM outbox").fetchone()
        return int(row[0])
