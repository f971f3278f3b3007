"""The DICOM door (issue 12, finding 1): (AE title, source address) pairs, real peers.

Associations come from pynetdicom (bound to 127.0.0.1 or 127.0.0.2 on Linux
loopback) and from dcmtk's ``storescu -aet``; each is accepted or rejected by the
listener's A-ASSOCIATE-RQ check before any data set is read.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification

from medcam.pacs.aet import AllowedPeer, same_ae_title
from service.intake.dimse_scp import DicomListener, ListenerConfig
from service.intake.series import SeriesIntake
from service.jobs.db import Database
from service.jobs.store import JobStore
from service.phi import PhiRegistry
from service.spool import Spool
from tests.service.dicomgen import write_ct
from tests.service.orthanc import free_port

ALLOWED = ("MODALITY@127.0.0.1", "CT2@127.0.0.0/30")


@pytest.fixture
def door(tmp_path: Path) -> Iterator[DicomListener]:
    spool = Spool(tmp_path / "data")
    spool.prepare()
    store = JobStore(Database(tmp_path / "data" / "jobs.sqlite3"))
    registry = PhiRegistry()
    intake = SeriesIntake(spool, store, "demo", "gradcam", quiet_s=0.5, registry=registry)
    config = ListenerConfig("127.0.0.1", free_port(), "MEDCAM",
                            tuple(AllowedPeer.parse(e) for e in ALLOWED))
    listener = DicomListener(config, spool, intake, registry)
    listener.start()
    try:
        yield listener
    finally:
        listener.stop()


def _associate(port: int, calling: str, source: str = "127.0.0.1") -> bool:
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 5
    assoc = ae.associate("127.0.0.1", port, ae_title="MEDCAM", bind_address=(source, 0))
    ok = bool(assoc.is_established)
    if ok:
        assert int(assoc.send_c_echo().Status) == 0
        assoc.release()
    else:
        assert assoc.is_rejected
    return ok


@pytest.mark.parametrize(("calling", "source", "accepted"), [
    ("MODALITY", "127.0.0.1", True),
    ("MODALITY", "127.0.0.2", False),   # right title, wrong address
    ("INTRUDER", "127.0.0.1", False),   # wrong title, right address
    ("MODALITY1", "127.0.0.1", False),  # no prefix matching
    ("modality", "127.0.0.1", False),   # case-sensitive
    ("CT2", "127.0.0.2", True),         # inside 127.0.0.0/30
    ("CT2", "127.0.0.5", False),        # outside it
    ("CT2", "127.0.0.1", True),
])
def test_pynetdicom_peers(door: DicomListener, calling: str, source: str,
                          accepted: bool) -> None:
    assert _associate(door.port, calling, source) is accepted


def test_rejections_are_counted_and_the_door_still_works(door: DicomListener) -> None:
    assert not _associate(door.port, "INTRUDER")
    assert not _associate(door.port, "MODALITY", "127.0.0.2")
    assert door.refused_associations == 2
    assert _associate(door.port, "MODALITY")


STORESCU = shutil.which("storescu")


@pytest.mark.skipif(STORESCU is None, reason="dcmtk storescu not installed")
@pytest.mark.parametrize(("aet", "accepted"), [
    ("MODALITY", True), ("INTRUDER", False), ("MODALIT", False),
    # PS3.8 9.3.2: edge spaces of the 16-byte field are padding, so this IS "MODALITY"
    ("MODALITY ", True),
])
def test_storescu_aet(door: DicomListener, tmp_path: Path, aet: str, accepted: bool) -> None:
    files = write_ct(tmp_path / "s", f"door-{aet.strip()}", slices=1, size=16)
    run = subprocess.run([str(STORESCU), "-aet", aet, "-aec", "MEDCAM", "127.0.0.1",
                          str(door.port), str(files[0])], capture_output=True, text=True,
                         timeout=60)
    assert (run.returncode == 0) is accepted, run.stderr
    if not accepted:
        assert "Rejected" in run.stderr or "rejected" in run.stderr.lower()
    assert (door.received == 1) is accepted


def test_edge_space_rule() -> None:
    assert same_ae_title("MODALITY        ", "MODALITY")
    assert same_ae_title(" MODALITY", "MODALITY")
    assert not same_ae_title("MODAL ITY", "MODALITY")
    assert not same_ae_title("MODALITY", "modality")


@pytest.mark.parametrize(("host", "entries", "ok"), [
    ("127.0.0.1", (), True),                      # loopback: any title, loopback callers
    ("0.0.0.0", (), False),                       # fails closed
    ("0.0.0.0", ("MODALITY",), False),            # a bare title means loopback only
    ("0.0.0.0", ("MODALITY@10.0.0.0/8",), True),
    ("10.1.2.3", ("PACS@192.168.1.5",), True),
])
def test_listener_config_is_closed_off_loopback(host: str, entries: tuple[str, ...],
                                                ok: bool) -> None:
    peers = tuple(AllowedPeer.parse(e) for e in entries)
    if ok:
        ListenerConfig(host, 11112, "MEDCAM", peers)
    else:
        with pytest.raises(ValueError, match="off loopback"):
            ListenerConfig(host, 11112, "MEDCAM", peers)


@pytest.mark.parametrize("entry", ["MOD@10.0.0.1/8", "MOD@pacs.example.org", "MOD@",
                                   "@10.0.0.1", "A" * 17 + "@10.0.0.1", "MOD @10.0.0.1"])
def test_malformed_entries(entry: str) -> None:
    with pytest.raises(ValueError):
        AllowedPeer.parse(entry)


def test_empty_list_admits_loopback_callers_only(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "d")
    spool.prepare()
    registry = PhiRegistry()
    intake = SeriesIntake(spool, JobStore(Database(tmp_path / "d" / "j.sqlite3")), "demo",
                          "gradcam", quiet_s=0.5, registry=registry)
    listener = DicomListener(ListenerConfig("127.0.0.1", free_port(), "MEDCAM"), spool,
                             intake, registry)
    listener.start()
    try:
        assert _associate(listener.port, "ANYONE", "127.0.0.2")
        ae = AE(ae_title="ANYONE")
        ae.add_requested_context(CTImageStorage)
        assoc = ae.associate("127.0.0.1", listener.port, ae_title="MEDCAM")
        f = write_ct(tmp_path / "s", "door-empty", slices=1, size=16)[0]
        assert int(assoc.send_c_store(dcmread(f)).Status) == 0
        assoc.release()
    finally:
        listener.stop()
