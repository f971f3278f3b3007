"""The job loop: claim (lease) -> fetch -> inference in a subprocess -> queue pushes.

The inference runs in a long-lived child process, a
:class:`medcam.process.WorkerProcess` (model code never runs in the service
process). A child that dies mid-job (signal, OOM) is detected, the job is requeued
with its attempt already counted, and a fresh child is started; after
``job_max_attempts`` the job is failed and the queue moves on.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from medcam.errors import PermanentFetchError, TransientFetchError, WorkerCrashedError
from medcam.model.cache import DEFAULT_BUDGET_MB
from medcam.process import WorkerProcess
from service.errors import WorkerStoppedError
from service.jobs.child import ChildConfig, child_main
from service.jobs.models import Fetcher, Job
from service.jobs.outbox import backoff_delay
from service.jobs.store import JobStore, OutputInstance
from service.spool import Spool

__all__ = ["InferenceWorker", "WorkerConfig", "WorkerCrashedError"]

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    """How jobs are run."""

    pipeline: str
    device: str = "cpu"
    #: the routes file's text, read once at start (``None``: no routing)
    routes_text: str | None = None
    routes_source: str = "routes"
    routes_dir: str | None = None
    model_cache_mb: float = DEFAULT_BUDGET_MB
    max_attempts: int = 3
    lease_s: float = 60.0
    job_timeout_s: float = 3600.0
    poll_interval_s: float = 0.5
    fetch_backoff_s: float = 5.0
    log_level: str = "INFO"


class InferenceWorker:
    """Runs queued jobs one at a time in a background thread.

    Args:
        config: run settings.
        store: the job store.
        spool: job folders.
        fetcher: WADO-RS retrieval for jobs queued by study UID (``None``: no PACS).

    """

    def __init__(self, config: WorkerConfig, store: JobStore, spool: Spool,
                 fetcher: Fetcher | None) -> None:
        self.config, self.store, self.spool, self.fetcher = config, store, spool, fetcher
        self.owner = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._child: WorkerProcess | None = None
        self.crashes = 0

    def start(self) -> None:
        """Start the loop thread."""
        self._thread = threading.Thread(target=self._loop, name="medcam-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the loop and the child process."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._kill_child()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.store.claim_next(self.owner, self.config.lease_s,
                                            self.config.max_attempts)
                if job is not None:
                    self.run_job(job)
            except Exception:
                LOGGER.exception("job loop error; retrying")
                job = None
            if job is None:
                self._stop.wait(self.config.poll_interval_s)

    def run_job(self, job: Job) -> None:
        """Take a claimed job as far as the push stage."""
        if job.stage == "fetch" and not self._fetch(job):
            return
        try:
            reply = self._infer(job)
        except WorkerStoppedError:
            self.store.release(job.id)
            return
        except WorkerCrashedError as exc:
            self.crashes += 1
            after = self.store.requeue_or_fail(job.id, str(exc), self.config.max_attempts)
            LOGGER.warning("job %s: %s (attempt %d, now %s)", job.id, exc, after.attempts,
                           after.state)
            return
        if not reply.get("ok"):
            self.store.fail(job.id, str(reply.get("error") or "inference failed"))
            LOGGER.info("job %s failed: %s", job.id, reply.get("error"))
            return
        outputs = [OutputInstance(**o) for o in reply["outputs"]]
        result = {"results": [{k: v for k, v in r.items() if k != "files"}
                              for r in reply["results"]]}
        if not outputs and reply["results"] and all(r.get("skipped")
                                                    for r in reply["results"]):
            self.store.finish_skipped(job.id, result)  # routed away: done, nothing to push
            LOGGER.info("job %s: every series skipped by the routes", job.id)
            return
        if not outputs:
            self.store.fail(job.id, "the pipeline produced no output instance")
            return
        self.store.finish_inference(job.id, result, outputs)
        LOGGER.info("job %s: inference done, %d instances to push", job.id, len(outputs))

    def _fetch(self, job: Job) -> bool:
        if self.fetcher is None:
            self.store.fail(job.id, "no DICOMweb PACS configured (MEDCAM_PACS_DICOMWEB)")
            return False
        if job.study_instance_uid is None:
            self.store.fail(job.id, "a fetch job needs a Study Instance UID")
            return False
        dest = self.spool.input_dir(job.id)
        dest.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            got = self.fetcher.fetch(job.study_instance_uid, job.series_instance_uid, dest)
        except TransientFetchError as exc:
            delay = backoff_delay(job.attempts, self.config.fetch_backoff_s,
                                  self.config.fetch_backoff_s * 8)
            self.store.requeue_or_fail(job.id, f"fetch failed: {exc}", self.config.max_attempts,
                                       delay_s=delay)
            return False
        except PermanentFetchError as exc:
            self.store.fail(job.id, f"fetch failed: {exc}")
            return False
        self.store.set_stage(job.id, "infer", n_inputs=got.n_instances)
        return True

    # child process -------------------------------------------------------------
    def _ensure_child(self) -> WorkerProcess:
        if self._child is not None and self._child.is_alive():
            return self._child
        self._kill_child()
        c = self.config
        child = WorkerProcess(child_main, (ChildConfig(
            c.pipeline, c.log_level, c.device, c.routes_text, c.routes_source, c.routes_dir,
            c.model_cache_mb),), name="medcam-inference")
        child.start()
        self._child = child
        return child

    def _kill_child(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.kill()

    def _crashed(self, child: WorkerProcess) -> WorkerCrashedError:
        reason = child.death_reason()
        self._kill_child()
        return WorkerCrashedError(reason)

    def _infer(self, job: Job) -> dict[str, Any]:
        child = self._ensure_child()
        request = {"input_dir": str(self.spool.input_dir(job.id)),
                   "output_dir": str(self.spool.output_dir(job.id)), "model": job.model,
                   "method": job.method, "outputs": job.outputs,
                   "device": self.config.device}
        deadline = time.monotonic() + self.config.job_timeout_s
        renewed = time.monotonic()
        try:
            child.send(request)
            while not child.poll(0.5):
                if time.monotonic() - renewed > self.config.lease_s / 3:
                    self.store.renew_lease(job.id, self.owner, self.config.lease_s)
                    renewed = time.monotonic()
                if not child.is_alive():
                    raise self._crashed(child)
                if self._stop.is_set():
                    self._kill_child()
                    raise WorkerStoppedError("shutdown")
                if time.monotonic() > deadline:
                    self._kill_child()
                    raise WorkerCrashedError("worker exceeded the job time limit")
            reply: dict[str, Any] = child.recv()
        except WorkerCrashedError:
            self._kill_child()
            raise
        except (EOFError, OSError) as exc:
            raise self._crashed(child) from exc
        return reply
