"""C-STORE intake memory and count bounds (issue 12, finding 2).

Data sets are streamed into the spool while received; an instance over
``MEDCAM_MAX_INSTANCE_BYTES`` aborts the association once the cap is passed and
leaves nothing behind; per-series and per-association instance caps answer 0xA700.
The big test sends a 512 MiB instance (a sparse file, sent in chunks) to a real
``python -m service`` and samples its resident memory during the transfer.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pynetdicom import AE, _config
from pynetdicom.sop_class import CTImageStorage

from service.intake.dimse_scp import DicomListener, ListenerConfig
from service.intake.series import SeriesIntake
from service.jobs.db import Database
from service.jobs.store import JobStore
from service.phi import PhiRegistry
from service.spool import Spool
from tests.service.dicomgen import write_ct
from tests.service.orthanc import free_port
from tests.service.process import ServiceProcess

MIB = 1 << 20


def big_instance(template: Path, out: Path, pixel_bytes: int) -> Path:
    """A CT instance whose PixelData holds ``pixel_bytes`` zero bytes (a sparse file)."""
    ds = dcmread(template)
    del ds.PixelData
    side = int((pixel_bytes // 2) ** 0.5)
    ds.Rows = ds.Columns = side
    ds.save_as(out, enforce_file_format=True)
    n = side * side * 2
    with out.open("ab") as fh:  # (7FE0,0010) OW, explicit VR little endian
        fh.write(b"\xe0\x7f\x10\x00OW\x00\x00" + n.to_bytes(4, "little"))
        fh.truncate(fh.tell() + n)
    return out


def spool_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "spool").rglob("*") if p.is_file()]


@pytest.fixture
def chunked_send(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send data sets from files in chunks (the sender never holds them)."""
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)


def _assoc(port: int) -> object:
    ae = AE(ae_title="SENDER")
    ae.add_requested_context(CTImageStorage, "1.2.840.10008.1.2.1")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    assoc = ae.associate("127.0.0.1", port, ae_title="MEDCAM")
    assert assoc.is_established
    return assoc


@pytest.fixture
def make_listener(tmp_path: Path) -> Iterator[Callable[..., DicomListener]]:
    started: list[DicomListener] = []

    def make(**limits: int) -> DicomListener:
        spool = Spool(tmp_path / "data")
        spool.prepare()
        registry = PhiRegistry()
        intake = SeriesIntake(spool, JobStore(Database(tmp_path / "data" / "j.sqlite3")),
                              "demo", "gradcam", quiet_s=60, registry=registry)
        listener = DicomListener(ListenerConfig("127.0.0.1", free_port(), "MEDCAM",
                                                **limits), spool, intake, registry)
        listener.start()
        started.append(listener)
        return listener

    yield make
    for listener in started:
        listener.stop()


def test_an_oversized_instance_aborts_and_leaves_nothing(
        make_listener: Callable[..., DicomListener], tmp_path: Path,
        chunked_send: None) -> None:
    listener = make_listener(max_instance_bytes=2 * MIB)
    small = write_ct(tmp_path / "s", "cap-small", slices=1, size=16)[0]
    big = big_instance(small, tmp_path / "big.dcm", 8 * MIB)
    assoc = _assoc(listener.port)
    assert int(assoc.send_c_store(small).Status) == 0  # type: ignore[attr-defined]
    status = assoc.send_c_store(big)  # type: ignore[attr-defined]
    assert "Status" not in status  # no answer: the association was aborted
    time.sleep(0.5)
    assert assoc.is_aborted  # type: ignore[attr-defined]
    assert listener.spool.tmp_dir.exists() and list(listener.spool.tmp_dir.iterdir()) == []
    assert listener.rejected == 0 and listener.received == 1
    ok = _assoc(listener.port)  # the listener is unharmed
    assert int(ok.send_c_store(small).Status) == 0  # type: ignore[attr-defined]
    ok.release()  # type: ignore[attr-defined]


def test_instances_under_the_cap_stream_into_the_spool(
        make_listener: Callable[..., DicomListener], tmp_path: Path,
        chunked_send: None) -> None:
    listener = make_listener(max_instance_bytes=16 * MIB)
    small = write_ct(tmp_path / "s", "cap-under", slices=1, size=16)[0]
    big = big_instance(small, tmp_path / "big.dcm", 8 * MIB)
    assoc = _assoc(listener.port)
    assert int(assoc.send_c_store(big).Status) == 0  # type: ignore[attr-defined]
    pending = [p for p in spool_files(listener.spool.data_dir) if "pending" in p.parts]
    assert len(pending) == 1 and pending[0].stat().st_size > 8 * MIB
    assert dcmread(pending[0], stop_before_pixels=True).Rows == dcmread(
        big, stop_before_pixels=True).Rows
    assoc.release()  # type: ignore[attr-defined]


def test_per_series_cap(make_listener: Callable[..., DicomListener], tmp_path: Path) -> None:
    listener = make_listener(max_series_instances=2)
    files = write_ct(tmp_path / "a", "cap-series", slices=3, size=16)
    assoc = _assoc(listener.port)
    statuses = [int(assoc.send_c_store(dcmread(f)).Status)  # type: ignore[attr-defined]
                for f in [*files, files[0]]]
    assoc.release()  # type: ignore[attr-defined]
    assert statuses == [0, 0, 0xA700, 0xA700]


def test_per_association_cap(make_listener: Callable[..., DicomListener],
                             tmp_path: Path) -> None:
    listener = make_listener(max_association_instances=2)
    a = write_ct(tmp_path / "a", "cap-assoc-a", slices=2, size=16)
    b = write_ct(tmp_path / "b", "cap-assoc-b", slices=1, size=16)
    assoc = _assoc(listener.port)
    statuses = [int(assoc.send_c_store(dcmread(f)).Status)  # type: ignore[attr-defined]
                for f in a + b]
    assoc.release()  # type: ignore[attr-defined]
    assert statuses == [0, 0, 0xA700]
    again = _assoc(listener.port)  # a new association starts from zero
    assert int(again.send_c_store(dcmread(b[0])).Status) == 0  # type: ignore[attr-defined]
    again.release()  # type: ignore[attr-defined]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


#: Resident memory the service may gain while a 512 MiB instance streams in.
RSS_BOUND_MB = 200


def test_512_mib_instance_to_the_service_process(
        service_factory: Callable[..., ServiceProcess], tmp_path: Path,
        chunked_send: None, capsys: pytest.CaptureFixture[str]) -> None:
    service = service_factory(MEDCAM_MAX_INSTANCE_BYTES=str(256 * MIB),
                              MEDCAM_WORKER_PIPELINE="tests.service.fake_pipelines:copy_as_sc")
    service.start()
    assert service.proc is not None
    pid = service.proc.pid
    small = write_ct(tmp_path / "s", "rss", slices=1, size=16)[0]
    big = big_instance(small, tmp_path / "big.dcm", 512 * MIB)
    time.sleep(1.0)
    before = _rss_mb(pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak.append(_rss_mb(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        assoc = _assoc(service.dicom_port)
        status = assoc.send_c_store(big)  # type: ignore[attr-defined]
    finally:
        done.set()
        sampler.join(5)
    data_dir = Path(service.env["MEDCAM_DATA_DIR"])
    assert "Status" not in status or int(status.Status) != 0
    deadline = time.monotonic() + 10
    while spool_files(data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert spool_files(data_dir) == []
    growth = max(peak) - before
    with capsys.disabled():
        sys.stdout.write(f"\n512 MiB C-STORE (cap 256 MiB): service RSS {before:.0f} -> "
                         f"{max(peak):.0f} MB (+{growth:.0f} MB, {len(peak)} samples)\n")
    assert growth < RSS_BOUND_MB
    ok = _assoc(service.dicom_port)
    assert int(ok.send_c_store(small).Status) == 0  # type: ignore[attr-defined]
    ok.release()  # type: ignore[attr-defined]
