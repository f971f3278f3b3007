"""The DICOM listener: echo, spooling, one job per series, AE allow-list (B-6, B-26)."""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification

from medcam.pacs.aet import AllowedPeer
from service.intake.dimse_scp import DicomListener, ListenerConfig
from service.intake.series import SeriesIntake
from service.jobs.db import Database
from service.jobs.store import JobStore
from service.phi import PhiRegistry
from service.spool import Spool, SpoolWriter
from tests.service.dicomgen import series_uid, write_ct
from tests.service.orthanc import free_port


@dataclass
class Rig:
    listener: DicomListener
    store: JobStore
    spool: Spool
    intake: SeriesIntake
    port: int


@pytest.fixture
def rig(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Rig]:
    allowed = tuple(AllowedPeer.parse(e) for e in getattr(request, "param", ()))
    spool = Spool(tmp_path / "data")
    spool.prepare()
    store = JobStore(Database(tmp_path / "data" / "jobs.sqlite3"))
    registry = PhiRegistry()
    intake = SeriesIntake(spool, store, "demo", "gradcam", quiet_s=0.5, registry=registry)
    port = free_port()
    listener = DicomListener(ListenerConfig("127.0.0.1", port, "MEDCAM", allowed,
                                            max_associations=4), spool, intake, registry)
    listener.start()
    try:
        yield Rig(listener, store, spool, intake, port)
    finally:
        listener.stop()


def _assoc(port: int, calling: str = "SENDER"):
    ae = AE(ae_title=calling)
    ae.add_requested_context(CTImageStorage)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    return ae.associate("127.0.0.1", port, ae_title="MEDCAM")


def _send(port: int, files: list[Path], calling: str = "SENDER") -> list[int]:
    assoc = _assoc(port, calling)
    assert assoc.is_established
    statuses = [int(assoc.send_c_store(dcmread(f)).Status) for f in files]
    assoc.release()
    return statuses


def _wait_jobs(store: JobStore, n: int, timeout_s: float = 5.0) -> list:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        jobs = store.list_jobs()
        if len(jobs) >= n:
            return jobs
        time.sleep(0.05)
    return store.list_jobs()


def test_echo(rig: Rig) -> None:
    assoc = _assoc(rig.port)
    assert int(assoc.send_c_echo().Status) == 0
    assoc.release()


def test_two_series_in_one_association_make_two_jobs(rig: Rig, tmp_path: Path) -> None:
    a = write_ct(tmp_path / "a", "listener-a", slices=4, size=16)
    b = write_ct(tmp_path / "b", "listener-b", slices=3, size=16)
    assert _send(rig.port, a + b) == [0] * 7
    jobs = _wait_jobs(rig.store, 2)
    assert sorted((j.series_instance_uid, j.n_inputs) for j in jobs) == sorted(
        [(series_uid("listener-a"), 4), (series_uid("listener-b"), 3)])
    for job in jobs:
        names = sorted(p.name for p in rig.spool.input_dir(job.id).iterdir())
        assert len(names) == job.n_inputs
        assert all(len(n) == 64 + 4 and n.endswith(".dcm") for n in names)
    assert list(rig.spool.iter_pending()) == []


def test_quiet_series_is_queued_while_the_association_stays_open(rig: Rig,
                                                                   tmp_path: Path) -> None:
    files = write_ct(tmp_path / "a", "quiet", slices=2, size=16)
    assoc = _assoc(rig.port)
    for f in files:
        assert int(assoc.send_c_store(dcmread(f)).Status) == 0
    assert rig.store.list_jobs() == []
    time.sleep(0.7)
    rig.intake.sweep()
    assert len(rig.store.list_jobs()) == 1
    assoc.release()


def test_same_series_twice_is_one_job(rig: Rig, tmp_path: Path) -> None:
    files = write_ct(tmp_path / "a", "twice", slices=2, size=16)
    _send(rig.port, files)
    _wait_jobs(rig.store, 1)
    _send(rig.port, files)
    time.sleep(0.3)
    assert len(rig.store.list_jobs()) == 1


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_unsafe_uid_is_refused_and_nothing_written_outside(rig: Rig, tmp_path: Path) -> None:
    ds = dcmread(write_ct(tmp_path / "a", "unsafe", slices=1, size=16)[0])
    ds.SOPInstanceUID = "../../../escaped"
    assoc = _assoc(rig.port)
    assert int(assoc.send_c_store(ds).Status) == 0xC000
    assoc.release()
    assert not list(tmp_path.rglob("*escaped*"))
    assert rig.listener.rejected == 1


@pytest.mark.parametrize("rig", [("MODALITY1",)], indirect=True)
def test_unknown_calling_ae_is_rejected(rig: Rig) -> None:
    assoc = _assoc(rig.port, calling="INTRUDER")
    assert assoc.is_rejected
    ok = _assoc(rig.port, calling="MODALITY1")
    assert ok.is_established
    ok.release()


def test_http_request_on_the_dicom_port_is_dropped(rig: Rig) -> None:
    with socket.create_connection(("127.0.0.1", rig.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        try:
            data = s.recv(1024)
        except ConnectionResetError:
            data = b""
    assert len(data) < 1024
    test_echo(rig)


def test_extra_associations_are_rejected_cleanly(rig: Rig) -> None:
    held = [_assoc(rig.port) for _ in range(4)]
    extra = _assoc(rig.port)
    assert not extra.is_established
    for a in held:
        a.release()
    time.sleep(0.2)
    test_echo(rig)


def test_disk_full_answers_a700_and_leaves_no_file(rig: Rig, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def full(_self: SpoolWriter, _data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(SpoolWriter, "write", full)
    files = write_ct(tmp_path / "a", "full", slices=2, size=16)
    assert _send(rig.port, files) == [0xA700, 0xA700]
    assert [p for p in rig.spool.data_dir.rglob("*") if p.is_file() and p.suffix == ".dcm"] == []
