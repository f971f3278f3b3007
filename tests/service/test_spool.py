"""Spool: atomic, content-addressed, never named after received values (B-6)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread

from service.headers import InvalidInstanceError, read_header, valid_uid
from service.phi import PhiRegistry
from service.spool import Spool
from tests.service.dicomgen import write_ct


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    s = Spool(tmp_path / "data")
    s.prepare()
    return s


def test_publish_names_files_by_content_hash(spool: Spool) -> None:
    tmp, digest = spool.write_bytes(b"hello")
    dest = spool.publish(tmp, digest, spool.series_pending_dir("1.2.3"))
    assert dest.name == f"{digest}.dcm"
    assert "1.2.3" not in str(dest)
    assert not tmp.exists()
    tmp2, digest2 = spool.write_bytes(b"hello")
    assert spool.publish(tmp2, digest2, dest.parent) == dest
    assert len(list(dest.parent.iterdir())) == 1


def test_prepare_removes_partial_files(spool: Spool) -> None:
    writer = spool.writer(100)
    writer.write(b"partial")
    (spool.tmp_dir / "left-by-a-crash.part").write_bytes(b"x")
    spool.prepare()
    assert list(spool.tmp_dir.iterdir()) == []


def test_writer_limit_discards(spool: Spool) -> None:
    with pytest.raises(OverflowError), spool.writer(4) as w:
        w.write(b"12345")
    assert list(spool.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("uid", ["../../x", "/etc/passwd", "1." + "2" * 63, "1.2.abc",
                                 "1.02.3", "", "1..2"])
def test_invalid_uids(uid: str) -> None:
    assert not valid_uid(uid)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("uid", ["../../x", "/abs/path", "1." + "2" * 63, "1.2.3x"])
def test_header_rejects_unsafe_sop_instance_uid(tmp_path: Path, uid: str) -> None:
    path = write_ct(tmp_path / "ct", "unsafe", slices=2, size=8)[0]
    ds = dcmread(path)
    ds.SOPInstanceUID = uid
    ds.save_as(path)
    with pytest.raises(InvalidInstanceError):
        read_header(path)


def test_header_rejects_non_dicom(tmp_path: Path) -> None:
    path = tmp_path / "x.dcm"
    path.write_bytes(b"MZ" + b"\0" * 200)
    with pytest.raises(InvalidInstanceError):
        read_header(path)


def test_header_registers_phi(tmp_path: Path) -> None:
    path = write_ct(tmp_path / "ct", "phi", slices=2, size=8, canary=True)[0]
    registry = PhiRegistry()
    header = read_header(path, registry)
    assert header.has_pixels
    assert "This is PHI-7F3A of CANARY^PHI^7F3A" not in registry.scrub(
        "This is PHI-7F3A of CANARY^PHI^7F3A")
