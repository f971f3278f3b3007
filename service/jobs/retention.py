"""The retention sweep: job folders (patient images in and out) do not outlive their use.

A job's folder holds its inputs (the received series) and its outputs (the result
objects). Once the job has *succeeded*, which means every output instance is stored
in the PACS, the folder is deleted after ``MEDCAM_RETENTION_HOURS`` (default 0: at
the next sweep). A *failed* job keeps its folder for ``MEDCAM_FAILED_RETENTION_HOURS``
(default 168, one week), so that its push can be retried with
``POST /v1/jobs/{id}/push`` or the failure examined; then it is deleted too. Job rows
(states, UIDs, outcomes; no images) stay in the database. A folder without a job row
is never touched here: it is either being queued right now or is recovered as a job
at the next start.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass, field

from medcam.durable import fsync_directory
from service.jobs.db import Database
from service.spool import Spool

__all__ = ["Retention"]

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    """Deletes the folders of finished jobs whose retention time has passed.

    Args:
        db: the database.
        spool: where job folders are.
        succeeded_s: seconds a succeeded (fully pushed) job keeps its folder.
        failed_s: seconds a failed job keeps its folder.

    """

    db: Database
    spool: Spool
    succeeded_s: float
    failed_s: float
    #: held while a folder is judged and deleted, and while a re-push is accepted, so a
    #: job is never reopened for push while its folder is being removed
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False)

    def sweep(self, now: float | None = None) -> int:
        """Delete every expired job folder; return how many were deleted."""
        now = time.time() if now is None else now
        if not self.spool.jobs_dir.is_dir():
            return 0
        folders = {p.name: p for p in self.spool.jobs_dir.iterdir() if p.is_dir()}
        if not folders:
            return 0
        removed = 0
        conn = self.db.read()
        for name, path in sorted(folders.items()):
            with self.lock:
                row = conn.execute("SELECT state, finished_at FROM jobs WHERE id = ?",
                                   (name,)).fetchone()
                if row is None or row["finished_at"] is None:
                    continue
                keep_s = {"succeeded": self.succeeded_s,
                          "failed": self.failed_s}.get(row["state"])
                if keep_s is None or now < float(row["finished_at"]) + keep_s:
                    continue
                shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                removed += 1
                LOGGER.info("job %s: folder deleted (retention, job %s)", name, row["state"])
        if removed:
            fsync_directory(self.spool.jobs_dir)
        return removed
