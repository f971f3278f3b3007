"""Fair push (issue 12, finding 6): one big study does not hold back the small ones.

One job with 2,000 output instances and 20 jobs with 2 each are all in the push
stage when pushing starts (the big job is the oldest); the pusher sends by C-STORE
to a pynetdicom storage SCP that records the arrival order. Pushing stops once
every small job has succeeded: the big job must still be running then, with only a
few batches stored (strict creation order, the old behaviour, pushed all 2,000 first).
"""

from __future__ import annotations

import time
from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom.events import Event

from medcam.pacs.cstore import CStoreSender, DimseTimeouts
from service.jobs.db import Database
from service.jobs.outbox import Outbox
from service.jobs.pusher import PushConfig, Pusher
from service.jobs.store import JobStore, NewJob, OutputInstance
from service.spool import Spool
from tests.service.fake_pipelines import _sc, _uid
from tests.service.peers import storage_peer

BIG, SMALL, PER_SMALL = 2000, 20, 2


def _queue_job(store: JobStore, spool: Spool, n: int, seed: str) -> str:
    """A job in the push stage with ``n`` tiny Secondary Capture outputs on disk."""
    job = store.create(NewJob(id=_uid(seed)[-32:].rjust(32, "0"), source="upload",
                              model="m", method="gradcam"))[0]
    claimed = store.claim_next("w", 600, 3)
    assert claimed is not None and claimed.id == job.id
    out = spool.output_dir(job.id)
    out.mkdir(parents=True)
    src = Dataset()
    src.StudyInstanceUID = _uid(seed, "study")
    outputs = []
    for i in range(n):
        src.SOPInstanceUID = _uid(seed, str(i))
        ds = _sc(src, _uid(seed, "series"), i + 1)
        name = f"IM{i:06d}.dcm"
        ds.save_as(out / name, enforce_file_format=True)
        outputs.append(OutputInstance(ds.SOPInstanceUID, src.StudyInstanceUID, name))
    store.finish_inference(job.id, {"results": []}, outputs)
    return job.id


def test_small_jobs_are_stored_before_a_big_one_finishes(tmp_path: Path) -> None:
    db = Database(tmp_path / "jobs.sqlite3")
    store, outbox, spool = JobStore(db), Outbox(db), Spool(tmp_path / "data")
    spool.ensure_dirs()
    big = _queue_job(store, spool, BIG, "big")
    time.sleep(0.01)  # the big job is strictly the oldest
    small = [_queue_job(store, spool, PER_SMALL, f"small-{i}") for i in range(SMALL)]
    arrived: list[str] = []

    def record(event: Event) -> int:
        arrived.append(str(event.request.AffectedSOPInstanceUID))
        return 0x0000

    with storage_peer(record) as port:
        sender = CStoreSender("MEDCAM", "PEER", "127.0.0.1", port,
                              DimseTimeouts(2.0, 5.0, 10.0, 30.0))
        pusher = Pusher(PushConfig(max_attempts=3, backoff_s=0.05, backoff_max_s=0.1,
                                   batch_size=20, poll_interval_s=0.01), outbox, spool, sender)
        deadline = time.monotonic() + 300

        def small_done() -> bool:
            return all(store.get(j).state == "succeeded" for j in small)  # type: ignore[union-attr]

        while not small_done() and time.monotonic() < deadline:
            pusher.push_once()
    assert small_done()
    big_rows = outbox.rows(big)
    stored = [r for r in big_rows if r.state == "stored"]
    # the big job is still being pushed, a few batches in (strict creation order would
    # have pushed all of it first)
    assert store.get(big).state == "running"  # type: ignore[union-attr]
    assert 0 < len(stored) <= BIG // 10, len(stored)
    # the receiving side saw the same: each small instance once, and no more of the big
    # job than the outbox says
    big_uids = {r.sop_instance_uid for r in big_rows}
    assert len(arrived) == len(set(arrived)) == len(stored) + SMALL * PER_SMALL
    assert sum(uid in big_uids for uid in arrived) == len(stored)
