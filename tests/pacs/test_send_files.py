"""medcam.pacs.send_files: a whole mixed result set to a real Orthanc, per object.

SC, Parametric Map, SEG, Comprehensive 3D SR and KOS of one source go in one call,
over C-STORE (one association proposing every SOP Class) and over STOW-RS; every
file gets its own outcome, and Orthanc then holds exactly those instances. A file
that is not DICOM fails alone, without stopping the others.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from medcam.export.sc import write_secondary_capture
from medcam.pacs import PacsSender, send_files
from medcam.pacs.cstore import CStoreSender
from medcam.pacs.stowrs import StowRsSender
from tests.export._results import INFO_CAL, blob_map, build_set
from tests.export._sources import INFO, make_volume
from tests.service.orthanc import Orthanc

SOP_CLASSES = {
    "sc": "1.2.840.10008.5.1.4.1.1.7",
    "pm": "1.2.840.10008.5.1.4.1.1.30",
    "seg": "1.2.840.10008.5.1.4.1.1.66.4",
    "sr": "1.2.840.10008.5.1.4.1.1.88.34",
    "ko": "1.2.840.10008.5.1.4.1.1.88.59",
}


@pytest.fixture(scope="module")
def result_set(tmp_path_factory) -> list[tuple[str, Path]]:
    """(kind, path) of every object of one source's result set."""
    root = tmp_path_factory.mktemp("send")
    series = make_volume(root, "ct", n=3).series
    values = blob_map(series.array.shape, amplitude=1.3)
    sc = write_secondary_capture(series, values, INFO, root / "sc")
    built = build_set(series, values, INFO_CAL, root / "set")
    return [*(("sc", e.path) for e in sc), *((k, r.path) for k, r in built.records.items())]


def _sender(kind: str, pacs: Orthanc) -> PacsSender:
    if kind == "c-store":
        return CStoreSender("MEDCAM", pacs.aet, "127.0.0.1", pacs.dicom_port)
    return StowRsSender(pacs.dicomweb)


@pytest.mark.parametrize("kind", ["c-store", "stow-rs"])
def test_a_mixed_result_set_is_stored_object_by_object(result_set, orthanc, tmp_path, kind):
    pacs = orthanc
    assert sorted({k for k, _ in result_set}) == sorted(SOP_CLASSES)
    junk = tmp_path / "not-dicom.dcm"
    junk.write_bytes(b"no preamble here")
    paths = [p for _, p in result_set]
    outcomes = send_files(_sender(kind, pacs), [*paths, junk])

    assert [o.path for o in outcomes] == [*paths, junk]
    for (obj_kind, path), out in zip(result_set, outcomes, strict=False):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert out.sop_class_uid == SOP_CLASSES[obj_kind] == ds.SOPClassUID
        assert out.outcome.sop_instance_uid == ds.SOPInstanceUID
        assert out.outcome.state == "stored", (obj_kind, out.outcome)
        assert out.stored
    bad = outcomes[-1]
    assert (bad.sop_class_uid, bad.outcome.state, bad.stored) == ("", "failed_permanent", False)
    expected = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in paths}
    assert set(pacs.sop_instance_uids()) == expected


def test_an_unreachable_peer_fails_every_object_retryably(result_set):
    from tests.service.orthanc import free_port

    sender = CStoreSender("MEDCAM", "NOBODY", "127.0.0.1", free_port())
    outcomes = send_files(sender, [p for _, p in result_set])
    assert {o.outcome.state for o in outcomes} == {"failed_retryable"}
    assert all(o.sop_class_uid for o in outcomes)
