"""From spooled instances to queued jobs: one job per image series.

DIMSE instances wait in a pending folder per series until the association that
sent them ends or the series has been quiet for ``series_quiet_s``; uploads become
jobs at once. Either way the inputs are renamed into the job's folder and synced,
*then* the job row is committed; files found at start-up in a job folder without a
row (a crash between the two) become a job then.

Non-image instances (SR, KOS, ...) are dropped at intake. In a routed service
(``MEDCAM_ROUTES``) each series of them sent by C-STORE is still recorded, when its
association ends, as a job that succeeded with nothing to push and a result
``skipped: not_an_image_series`` naming its SOP Class UID (UIDs and counts only,
nothing of the instance is kept), so every series of a study is accounted for.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from service.headers import InvalidInstanceError, ReceivedInstance, read_header
from service.jobs.models import Job
from service.jobs.store import JobStore, NewJob
from service.phi import PhiRegistry
from service.spool import Spool

__all__ = ["SeriesIntake", "SpooledFile", "dedup_key"]

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpooledFile:
    """A synced temporary file and its identity."""

    tmp: Path
    sha256: str
    study_instance_uid: str
    series_instance_uid: str


def dedup_key(model: str, method: str, digests: Iterable[str],
              outputs: str = "sc", routes: str | None = None) -> str:
    """Jobs with equal inputs, model, method, outputs and routes are one job."""
    parts = ["v1", model, method] if outputs == "sc" else ["v2", model, method, outputs]
    if routes is not None:
        parts += ["routes", routes]
    text = "\n".join([*parts, *sorted(set(digests))])
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class _NotKept:
    """Non-image instances of one series received on one association (UIDs only)."""

    study_instance_uid: str
    sop_class_uid: str
    digests: set[str]

    def result(self, series_instance_uid: str) -> dict[str, object]:
        """The job result recorded for the series (the keys of an explained one)."""
        return {"results": [{
            "series_instance_uid": series_instance_uid,
            "study_instance_uid": self.study_instance_uid, "sop_class_uid": self.sop_class_uid,
            "n_instances": len(self.digests), "target": None, "probabilities": {},
            "output_series_instance_uid": None, "objects": {}, "model": None, "rule": None,
            "skipped": "not_an_image_series", "error": None, "error_type": None}]}


class SeriesIntake:
    """Groups received instances into series and queues their jobs.

    Args:
        spool: the spool.
        store: the job store.
        model: model name for new jobs.
        method: CAM method for new jobs.
        quiet_s: a pending series with no new instance for this long is queued.
        outputs: the result objects new jobs write (``"sc,pm,seg,sr,ko"``).
        routes_digest: digest of the routes in force (``None``: no routing).
        registry: patient values to remember.

    """

    def __init__(self, spool: Spool, store: JobStore, model: str, method: str,
                 quiet_s: float, registry: PhiRegistry, outputs: str = "sc",
                 routes_digest: str | None = None) -> None:
        self.spool, self.store, self.registry = spool, store, registry
        self.model, self.method, self.quiet_s = model, method, quiet_s
        self.outputs, self.routes_digest = outputs, routes_digest
        self._lock = threading.RLock()
        self._active: dict[object, set[str]] = {}
        self._last_write: dict[str, float] = {}
        self._study_of: dict[str, tuple[str, str]] = {}
        self._count_of: dict[str, int] = {}
        self._not_kept: dict[object, dict[str, _NotKept]] = {}

    # DIMSE -------------------------------------------------------------------
    def add_pending(self, assoc: object, spooled: SpooledFile) -> None:
        """File a synced instance under its series' pending folder."""
        folder = self.spool.series_pending_dir(spooled.series_instance_uid)
        with self._lock:
            if not (folder / f"{spooled.sha256}.dcm").exists():
                self._count_of[folder.name] = self.pending_count(
                    spooled.series_instance_uid) + 1
            self.spool.publish(spooled.tmp, spooled.sha256, folder)
            self._active.setdefault(assoc, set()).add(folder.name)
            self._last_write[folder.name] = time.monotonic()
            self._study_of[folder.name] = (spooled.study_instance_uid,
                                           spooled.series_instance_uid)

    def pending_count(self, series_instance_uid: str) -> int:
        """How many distinct instances of a series wait in its pending folder."""
        folder = self.spool.series_pending_dir(series_instance_uid)
        with self._lock:
            known = self._count_of.get(folder.name)
            if known is None:
                known = len(list(folder.glob("*.dcm"))) if folder.exists() else 0
                self._count_of[folder.name] = known
            return known

    def note_not_kept(self, assoc: object, header: ReceivedInstance, sha256: str) -> None:
        """Remember a dropped non-image instance; a routed service records its series."""
        if self.routes_digest is None:
            return
        with self._lock:
            series = self._not_kept.setdefault(assoc, {})
            noted = series.setdefault(header.series_instance_uid, _NotKept(
                header.study_instance_uid, header.sop_class_uid, set()))
            noted.digests.add(sha256)

    def association_ended(self, assoc: object) -> list[Job]:
        """Queue the series an ended association sent (unless another is still sending)."""
        with self._lock:
            touched = self._active.pop(assoc, set())
            busy = set().union(*self._active.values()) if self._active else set()
            jobs = [j for name in sorted(touched - busy)
                    if (j := self._close(self.spool.pending_dir / name)) is not None]
            for series, noted in sorted(self._not_kept.pop(assoc, {}).items()):
                folder = self.spool.series_pending_dir(series)
                if folder.name not in touched | busy and not folder.exists():
                    jobs.append(self._record_not_kept(series, noted))
            return jobs

    def _record_not_kept(self, series: str, noted: _NotKept) -> Job:
        digests = sorted(noted.digests)
        job, created = self.store.record_skipped(NewJob(
            id=uuid.uuid4().hex, source="dimse", model=self.model, method=self.method,
            outputs=self.outputs, study_instance_uid=noted.study_instance_uid,
            series_instance_uid=series, n_inputs=len(digests), stage="done",
            dedup_key=dedup_key(self.model, self.method, digests, self.outputs,
                                self.routes_digest)), noted.result(series))
        if created:
            LOGGER.info("series %s holds no image (SOP class %s): recorded as skipped",
                        series, noted.sop_class_uid)
        return job

    def sweep(self) -> list[Job]:
        """Queue every pending series that has been quiet for ``quiet_s``."""
        jobs = []
        now_mono, now = time.monotonic(), time.time()
        for folder in list(self.spool.iter_pending()):
            with self._lock:
                last = self._last_write.get(folder.name)
                try:
                    age = (now_mono - last) if last is not None else now - folder.stat().st_mtime
                except FileNotFoundError:
                    continue
                if age >= self.quiet_s and (job := self._close(folder)) is not None:
                    jobs.append(job)
        return jobs

    def _close(self, folder: Path) -> Job | None:
        self._last_write.pop(folder.name, None)
        self._count_of.pop(folder.name, None)
        uids = self._study_of.pop(folder.name, None)
        files = sorted(folder.glob("*.dcm")) if folder.exists() else []
        if not files:
            _rmdir(folder)
            return None
        if uids is None:
            uids = self._uids_from(files)
        job_id = uuid.uuid4().hex
        dest = self.spool.new_job_dir(job_id)
        self.spool.move_into(files, dest)
        _rmdir(folder)
        return self._commit(job_id, "dimse", uids, [f.stem for f in files])

    # uploads -------------------------------------------------------------------
    def queue_upload(self, files: list[SpooledFile]) -> list[Job]:
        """Queue one job per series of an upload; durable when this returns."""
        by_series: dict[str, list[SpooledFile]] = {}
        for f in files:
            by_series.setdefault(f.series_instance_uid, []).append(f)
        jobs = []
        for series, group in by_series.items():
            job_id = uuid.uuid4().hex
            dest = self.spool.new_job_dir(job_id)
            unique = {f.sha256: f for f in group}
            for f in group:
                if unique.get(f.sha256) is f:
                    self.spool.publish(f.tmp, f.sha256, dest)
                else:
                    f.tmp.unlink(missing_ok=True)
            jobs.append(self._commit(job_id, "upload", (group[0].study_instance_uid, series),
                                     list(unique)))
        return jobs

    # shared ------------------------------------------------------------------
    def _commit(self, job_id: str, source: str, uids: tuple[str, str],
                digests: list[str]) -> Job:
        job, created = self.store.create(NewJob(
            id=job_id, source=source, model=self.model, method=self.method,
            outputs=self.outputs, study_instance_uid=uids[0], series_instance_uid=uids[1],
            n_inputs=len(digests),
            dedup_key=dedup_key(self.model, self.method, digests, self.outputs,
                                self.routes_digest)))
        if not created:
            self.spool.remove_job(job_id)
            LOGGER.info("inputs of series %s match job %s; not queued again", uids[1], job.id)
        else:
            LOGGER.info("queued job %s (%s, %d instances, series %s)", job.id, source,
                        len(digests), uids[1])
        return job

    def _uids_from(self, files: list[Path]) -> tuple[str, str]:
        for f in files:
            try:
                h = read_header(f, self.registry)
            except InvalidInstanceError:
                continue
            return h.study_instance_uid, h.series_instance_uid
        raise InvalidInstanceError("no readable instance in a spooled series")

    def recover_orphans(self) -> list[Job]:
        """Queue job folders that hold inputs but have no job row (crash before commit)."""
        known = self.store.ids()
        jobs = []
        for folder in sorted(self.spool.jobs_dir.iterdir()):
            if folder.name in known or not folder.is_dir():
                continue
            files = sorted((folder / "input").glob("*.dcm"))
            try:
                uids = self._uids_from(files) if files else None
            except InvalidInstanceError:
                uids = None
            if uids is None:
                self.spool.remove_job(folder.name)
                continue
            jobs.append(self._commit(folder.name, "recovered", uids, [f.stem for f in files]))
        return jobs


def _rmdir(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        return
