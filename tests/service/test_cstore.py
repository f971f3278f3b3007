"""C-STORE sender: statuses, unknown outcomes, rejected contexts, bounded timeouts (B-24/25)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from medcam.errors import PermanentPushError, TransientPushError
from medcam.pacs.base import PushItem
from medcam.pacs.cstore import CStoreSender, DimseTimeouts
from service.jobs.db import Database
from service.jobs.outbox import Outbox
from service.jobs.pusher import PushConfig, Pusher
from service.jobs.store import JobStore, NewJob, OutputInstance
from service.spool import Spool
from tests.service.dicomgen import write_ct
from tests.service.fake_pipelines import copy_as_sc
from tests.service.orthanc import free_port
from tests.service.peers import silent_peer, sleepy, storage_peer

FAST = DimseTimeouts(connection_s=1.0, acse_s=1.0, dimse_s=1.0, network_s=5.0)


@pytest.fixture(scope="module")
def sc_files(tmp_path_factory: pytest.TempPathFactory) -> list[PushItem]:
    root = tmp_path_factory.mktemp("sc")
    write_ct(root / "in", "cstore", slices=3, size=8)
    report = copy_as_sc(root / "in", root / "out", model="m", method="gradcam")
    from pydicom import dcmread
    items = []
    for rel in report.results[0].files:
        ds = dcmread(root / "out" / rel)
        items.append(PushItem(ds.SOPInstanceUID, ds.StudyInstanceUID, root / "out" / rel))
    return items


def _sender(port: int, timeouts: DimseTimeouts = FAST) -> CStoreSender:
    return CStoreSender("MEDCAM", "PEER", "127.0.0.1", port, timeouts)


@pytest.mark.parametrize(("code", "state"), [
    (0x0000, "stored"), (0xB000, "stored_with_warning"), (0xA700, "failed_retryable"),
    (0xC000, "failed_permanent"), (0xA900, "failed_permanent")])
def test_status_per_instance(sc_files: list[PushItem], code: int, state: str) -> None:
    with storage_peer(lambda _e: code) as port:
        outcomes = _sender(port).send(sc_files)
    assert [o.state for o in outcomes] == [state] * len(sc_files)
    assert {o.status_code for o in outcomes} == {code}


def test_dimse_hang_is_unknown_not_stored(sc_files: list[PushItem]) -> None:
    with storage_peer(sleepy(3.0)) as port:
        t0 = time.monotonic()
        outcomes = _sender(port).send(sc_files[:1])
        elapsed = time.monotonic() - t0
    assert outcomes[0].state == "unknown"
    assert elapsed < 3.0


def test_rejected_presentation_context_is_permanent(sc_files: list[PushItem]) -> None:
    with storage_peer(lambda _e: 0, accept_sc=False) as port, pytest.raises(PermanentPushError):
        _sender(port).send(sc_files)


def test_connection_refused_is_transient(sc_files: list[PushItem]) -> None:
    with pytest.raises(TransientPushError):
        _sender(free_port()).send(sc_files)


def test_silent_peer_fails_within_connection_plus_acse_timeout(
        sc_files: list[PushItem]) -> None:
    with silent_peer() as port:
        t0 = time.monotonic()
        with pytest.raises(TransientPushError):
            _sender(port).send(sc_files[:1])
        assert time.monotonic() - t0 < FAST.connection_s + FAST.acse_s + 1.5


def test_echo(sc_files: list[PushItem]) -> None:
    with storage_peer(lambda _e: 0) as port:
        assert _sender(port).echo()
    assert not _sender(free_port()).echo()


def _pusher_fixture(tmp_path: Path, items: list[PushItem], port: int,
                    max_attempts: int = 5) -> tuple[Pusher, Outbox, JobStore, str]:
    db = Database(tmp_path / "jobs.sqlite3")
    store, outbox, spool = JobStore(db), Outbox(db), Spool(tmp_path / "data")
    job = store.create(NewJob(id="a" * 32, source="upload", model="m", method="gradcam"))[0]
    store.claim_next("w", 60, 3)
    out = spool.output_dir(job.id)
    out.mkdir(parents=True)
    outputs = []
    for i in items:
        (out / i.path.name).write_bytes(i.path.read_bytes())
        outputs.append(OutputInstance(i.sop_instance_uid, i.study_instance_uid, i.path.name))
    store.finish_inference(job.id, {"results": []}, outputs)
    pusher = Pusher(PushConfig(max_attempts, 0.01, 0.05, 100, 0.01), outbox, spool,
                    _sender(port))
    return pusher, outbox, store, job.id


def _drain(pusher: Pusher, store: JobStore, job_id: str, timeout_s: float = 20) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pusher.push_once()
        job = store.get(job_id)
        assert job is not None
        if job.state != "running":
            return job.state
        time.sleep(0.02)
    raise AssertionError("push did not settle")


def test_pusher_rejected_context_fails_after_one_attempt(tmp_path: Path,
                                                          sc_files: list[PushItem]) -> None:
    with storage_peer(lambda _e: 0, accept_sc=False) as port:
        pusher, outbox, store, job_id = _pusher_fixture(tmp_path, sc_files, port)
        assert _drain(pusher, store, job_id) == "failed"
    rows = outbox.rows(job_id)
    assert {(r.state, r.attempts) for r in rows} == {("failed_permanent", 1)}


def test_pusher_retries_unknown_then_stores(tmp_path: Path, sc_files: list[PushItem]) -> None:
    with storage_peer(sleepy(2.0, times=1)) as port:
        pusher, outbox, store, job_id = _pusher_fixture(tmp_path, sc_files[:1], port)
        pusher.push_once()
        assert outbox.rows(job_id)[0].state == "unknown"
        job = store.get(job_id)
        assert job is not None
        assert job.state == "running"
        time.sleep(1.5)  # let the peer's first handler finish
        assert _drain(pusher, store, job_id) == "succeeded"
    row = outbox.rows(job_id)[0]
    assert (row.state, row.attempts) == ("stored", 2)


def test_pusher_surfaces_transient_failure_after_max_attempts(
        tmp_path: Path, sc_files: list[PushItem]) -> None:
    with storage_peer(lambda _e: 0xA700) as port:
        pusher, outbox, store, job_id = _pusher_fixture(tmp_path, sc_files, port, max_attempts=4)
        assert _drain(pusher, store, job_id) == "failed"
    job = store.get(job_id)
    assert job is not None
    assert "0xA700" in (job.error or "")
    assert {(r.state, r.attempts) for r in outbox.rows(job_id)} == {("failed_retryable", 4)}
