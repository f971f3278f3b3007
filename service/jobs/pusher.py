"""The push loop: sends due outbox instances, records outcomes, ends jobs.

It runs apart from inference, so a PACS that is down delays only pushes; retries
back off exponentially per instance (``push_backoff_s`` doubling up to
``push_backoff_max_s``) for at most ``push_max_attempts`` sends.

Scheduling is round-robin across jobs: a pass serves the ``jobs_per_pass`` due jobs
that were served least recently (a job never served comes first), and takes at most
``batch_size`` instances of each (one association per job and pass). A
2,000-instance study therefore advances one batch at a time while the small studies
queued behind it are stored in the next pass, instead of waiting for all of it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import partial

from medcam.pacs.base import PacsSender, PushItem, send_items
from service.jobs.outbox import Outbox, backoff_delay
from service.spool import Spool

__all__ = ["PushConfig", "Pusher"]

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushConfig:
    """Retry policy of the pusher."""

    max_attempts: int = 10
    backoff_s: float = 30.0
    backoff_max_s: float = 600.0
    batch_size: int = 20
    poll_interval_s: float = 0.5
    jobs_per_pass: int = 8


class Pusher:
    """Sends job outputs to the PACS in a background thread.

    Args:
        config: retry policy.
        outbox: the outbox table.
        spool: where job outputs are.
        sender: the PACS sender (C-STORE or STOW-RS).

    """

    def __init__(self, config: PushConfig, outbox: Outbox, spool: Spool,
                 sender: PacsSender) -> None:
        self.config, self.outbox, self.spool, self.sender = config, outbox, spool, sender
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: pass number in which each job was last served (round-robin order)
        self._served: dict[str, int] = {}
        self._passes = 0

    def start(self) -> None:
        """Settle jobs left half-done by a crash, then start the loop thread."""
        self.settle_all()
        self._thread = threading.Thread(target=self._loop, name="medcam-pusher", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the current batch."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def settle_all(self) -> None:
        """End every pushing job that has nothing left to send."""
        rows = self.outbox.db.read().execute(
            "SELECT id FROM jobs WHERE state = 'running' AND stage = 'push'").fetchall()
        for (job_id,) in rows:
            self.outbox.settle(job_id, self.config.max_attempts)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.push_once()
            except Exception:
                LOGGER.exception("push loop error; retrying")
                busy = False
            if not busy:
                nxt = self.outbox.next_due_at()
                wait = self.config.poll_interval_s
                if nxt is not None:
                    wait = max(0.01, min(wait, nxt - time.time()))
                self._stop.wait(wait)

    def push_once(self) -> bool:
        """Run one round-robin pass over the due jobs; ``False`` when nothing was due."""
        due = self.outbox.due_jobs()
        waiting = set(due)
        self._served = {j: n for j, n in self._served.items() if j in waiting}
        if not due:
            return False
        self._passes += 1
        order = sorted(due, key=lambda j: self._served.get(j, -1))  # stable: oldest first
        backoff = partial(backoff_delay, base_s=self.config.backoff_s,
                          cap_s=self.config.backoff_max_s)
        for job_id in order[:self.config.jobs_per_pass]:
            self._served[job_id] = self._passes
            rows = self.outbox.due_for_job(job_id, self.config.batch_size)
            if not rows:
                continue
            items = [PushItem(r.sop_instance_uid, r.study_instance_uid,
                              self.spool.output_dir(job_id) / r.path) for r in rows]
            outcomes = send_items(self.sender, items)
            self.outbox.record(job_id, outcomes, backoff)
            state = self.outbox.settle(job_id, self.config.max_attempts)
            bad = sum(o.state not in ("stored", "stored_with_warning") for o in outcomes)
            LOGGER.info("job %s: pushed %d instances, %d not stored%s", job_id, len(items), bad,
                        f"; job {state}" if state else "")
            if self._stop.is_set():
                break
        return True
