"""The parts of a running service and their start/stop order."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from medcam.pacs.base import PacsSender
from medcam.pacs.cstore import CStoreSender, DimseTimeouts
from medcam.pacs.stowrs import StowRsSender
from service.errors import DataDirLockedError, ServiceError
from service.intake.dimse_scp import DicomListener, ListenerConfig
from service.intake.fetch import StudyFetcher
from service.intake.series import SeriesIntake
from service.jobs.db import Database
from service.jobs.outbox import Outbox
from service.jobs.pusher import PushConfig, Pusher
from service.jobs.retention import Retention
from service.jobs.store import JobStore
from service.jobs.worker import InferenceWorker, WorkerConfig
from service.phi import PhiRegistry
from service.settings import Settings, routes_digest
from service.spool import Spool

__all__ = ["DataDirLockedError", "Runtime", "build_runtime"]

LOGGER = logging.getLogger(__name__)


def _sender(s: Settings) -> PacsSender:
    if s.push == "dicomweb":
        if s.pacs_dicomweb is None:  # Settings refuses this combination at startup
            raise ServiceError("push = dicomweb needs MEDCAM_PACS_DICOMWEB")
        return StowRsSender(s.pacs_dicomweb, s.connection_timeout_s, s.http_timeout_s)
    timeouts = DimseTimeouts(s.connection_timeout_s, s.acse_timeout_s, s.dimse_timeout_s,
                             s.network_timeout_s)
    return CStoreSender(s.dicom_aet, s.pacs_aet, s.pacs_host, s.pacs_port, timeouts)


@dataclass
class Runtime:
    """Everything a service process runs; built by :func:`build_runtime`."""

    settings: Settings
    registry: PhiRegistry
    db: Database
    store: JobStore
    outbox: Outbox
    spool: Spool
    intake: SeriesIntake
    sender: PacsSender
    worker: InferenceWorker
    pusher: Pusher
    listener: DicomListener | None
    retention: Retention
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock_file: IO[str] | None = None
    _sweeper: threading.Thread | None = None
    started: bool = False

    def start(self) -> None:
        """Lock the data folder, recover from a crash, then start every loop."""
        self._lock_data_dir()
        self.spool.prepare()
        requeued = self.store.recover()
        orphans = self.intake.recover_orphans()
        if requeued or orphans:
            LOGGER.info("recovered %d interrupted and %d unrecorded jobs", requeued,
                        len(orphans))
        if self.listener is not None:
            self.listener.start()
        self.worker.start()
        self.pusher.start()
        self._sweeper = threading.Thread(target=self._sweep, name="medcam-sweeper", daemon=True)
        self._sweeper.start()
        self.started = True

    def stop(self) -> None:
        """Stop listening, then stop the loops (jobs in flight are requeued)."""
        self._stop.set()
        if self.listener is not None:
            self.listener.stop()
        self.worker.stop()
        self.pusher.stop()
        if self._sweeper is not None:
            self._sweeper.join(5)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        self.started = False

    def repush(self, job_id: str) -> bool:
        """Reopen a failed push (see :meth:`Outbox.reopen`); ``False``: no folder any more.

        Raises:
            RepushRefusedError: the job is not a failed push.

        """
        with self.retention.lock:
            if not self.spool.output_dir(job_id).is_dir():
                return False
            self.outbox.reopen(job_id)
        return True

    def _sweep(self) -> None:
        interval = min(1.0, self.settings.series_quiet_s / 4, self.settings.retention_sweep_s)
        next_retention = 0.0
        while not self._stop.wait(interval):
            try:
                self.intake.sweep()
            except Exception:
                LOGGER.exception("series sweep failed; retrying")
            if time.monotonic() >= next_retention:
                next_retention = time.monotonic() + self.settings.retention_sweep_s
                try:
                    self.retention.sweep()
                except Exception:
                    LOGGER.exception("retention sweep failed; retrying")

    def _lock_data_dir(self) -> None:
        path = self.settings.data_dir / "service.lock"
        fh = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600), "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            fh.close()
            raise DataDirLockedError("another medcam service uses this data folder") from exc
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._lock_file = fh


def build_runtime(settings: Settings, registry: PhiRegistry) -> Runtime:
    """Create (but do not start) every part of the service for ``settings``."""
    s = settings
    s.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    s.data_dir.chmod(0o700)  # patient data: owner only, even in a folder made by hand
    db = Database(s.data_dir / "jobs.sqlite3")
    store, outbox, spool = JobStore(db), Outbox(db), Spool(s.data_dir)
    spool.ensure_dirs()
    routes_text = s.read_routes()  # once: its digest and this text are what jobs use
    intake = SeriesIntake(spool, store, s.model, s.method, s.series_quiet_s, registry,
                          outputs=s.outputs, routes_digest=routes_digest(routes_text))
    fetcher = None
    if s.pacs_dicomweb:
        fetcher = StudyFetcher(s.pacs_dicomweb, spool, registry, s.connection_timeout_s,
                               s.http_timeout_s, s.max_instances, s.max_instance_bytes)
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    worker = InferenceWorker(WorkerConfig(
        pipeline=s.worker_pipeline, device=s.device, routes_text=routes_text,
        routes_source="built-in" if s.routes == "default" else Path(s.routes or "").name,
        routes_dir=None if s.routes in (None, "default") else str(Path(str(s.routes)).parent),
        model_cache_mb=s.model_cache_mb,
        max_attempts=s.job_max_attempts,
        lease_s=s.job_lease_s, job_timeout_s=s.job_timeout_s,
        poll_interval_s=s.poll_interval_s, fetch_backoff_s=s.push_backoff_s,
        log_level=str(level)), store, spool, fetcher)
    sender = _sender(s)
    pusher = Pusher(PushConfig(s.push_max_attempts, s.push_backoff_s, s.push_backoff_max_s,
                               s.push_batch_size, s.poll_interval_s), outbox, spool, sender)
    listener = None
    if s.dicom_enabled:
        listener = DicomListener(ListenerConfig(
            s.dicom_host, s.dicom_port, s.dicom_aet, s.allowed_peers, s.max_associations,
            s.max_pdu_bytes, s.max_instance_bytes, s.acse_timeout_s, s.dimse_timeout_s,
            s.network_timeout_s, max_series_instances=s.max_series_instances,
            max_association_instances=s.max_association_instances), spool, intake, registry)
    retention = Retention(db, spool, s.retention_hours * 3600, s.failed_retention_hours * 3600)
    return Runtime(settings=s, registry=registry, db=db, store=store, outbox=outbox,
                   spool=spool, intake=intake, sender=sender, worker=worker, pusher=pusher,
                   listener=listener, retention=retention)
