"""Senders and WADO-RS retrieval against a real Orthanc (no pipeline involved)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread

from medcam.pacs.base import PacsSender, PushItem
from medcam.pacs.cstore import CStoreSender
from medcam.pacs.stowrs import StowRsSender
from service.intake.fetch import PermanentFetchError, StudyFetcher
from service.phi import PhiRegistry
from service.spool import Spool
from tests.service.dicomgen import series_uid, study_uid, write_ct
from tests.service.fake_pipelines import copy_as_sc
from tests.service.orthanc import Orthanc


@pytest.fixture(params=[False, True], ids=["keep-first", "overwrite"])
def pacs(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Orthanc]:
    server = Orthanc(tmp_path / "orthanc", overwrite=request.param)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def _outputs(root: Path) -> list[PushItem]:
    write_ct(root / "in", "resend", slices=3, size=16)
    report = copy_as_sc(root / "in", root / "out", model="m", method="gradcam")
    items = []
    for rel in report.results[0].files:
        ds = dcmread(root / "out" / rel)
        items.append(PushItem(ds.SOPInstanceUID, ds.StudyInstanceUID, root / "out" / rel))
    return items


def _sender(kind: str, pacs: Orthanc) -> PacsSender:
    if kind == "dimse":
        return CStoreSender("MEDCAM", pacs.aet, "127.0.0.1", pacs.dicom_port)
    return StowRsSender(pacs.dicomweb)


@pytest.mark.parametrize("kind", ["dimse", "dicomweb"])
def test_resending_gives_one_copy(pacs: Orthanc, tmp_path: Path, kind: str) -> None:
    items = _outputs(tmp_path)
    sender = _sender(kind, pacs)
    assert sender.echo()
    for _ in range(2):
        outcomes = sender.send(items)
        assert {o.state for o in outcomes} <= {"stored", "stored_with_warning"}
    assert sorted(pacs.sop_instance_uids()) == sorted(i.sop_instance_uid for i in items)


def test_wado_fetch_of_a_series(tmp_path: Path) -> None:
    pacs = Orthanc(tmp_path / "orthanc")
    pacs.start()
    try:
        files = write_ct(tmp_path / "a", "wado-a", slices=3, size=16)
        other = write_ct(tmp_path / "b", "wado-b", slices=2, size=16,
                         study_instance_uid=study_uid("wado-a"))
        pacs.upload(files + other)
        spool = Spool(tmp_path / "data")
        spool.prepare()
        fetcher = StudyFetcher(pacs.dicomweb, spool, PhiRegistry())
        one = fetcher.fetch(study_uid("wado-a"), series_uid("wado-a"), tmp_path / "one")
        assert (one.n_instances, one.series_instance_uids) == (3, (series_uid("wado-a"),))
        names = sorted(p.name for p in (tmp_path / "one").iterdir())
        assert all(len(n) == 68 for n in names)
        assert {hashlib.sha256(p.read_bytes()).hexdigest() for p in
                (tmp_path / "one").iterdir()} == {n[:-4] for n in names}
        everything = fetcher.fetch(study_uid("wado-a"), None, tmp_path / "all")
        assert everything.n_instances == 5
        with pytest.raises(PermanentFetchError):
            fetcher.fetch("1.2.3.4.5", None, tmp_path / "none")
    finally:
        pacs.kill()
