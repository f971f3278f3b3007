"""STOW-RS responses are read per instance, whatever the HTTP status (B-23)."""

from __future__ import annotations

from pathlib import Path

from pydicom.dataset import Dataset

from medcam.pacs.base import PushItem
from medcam.pacs.stowrs import parse_stow_response


def _items(*uids: str) -> list[PushItem]:
    return [PushItem(u, "1.2", Path(f"/nonexistent/{u}")) for u in uids]


def _ref(uid: str, **kw: int) -> Dataset:
    ds = Dataset()
    ds.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.ReferencedSOPInstanceUID = uid
    for k, v in kw.items():
        setattr(ds, k, v)
    return ds


def test_referenced_failed_and_missing() -> None:
    body = Dataset()
    body.ReferencedSOPSequence = [_ref("1.1"), _ref("1.2", WarningReason=0xB000)]
    body.FailedSOPSequence = [_ref("1.3", FailureReason=0xA700),
                              _ref("1.4", FailureReason=0xC122)]
    outcomes = parse_stow_response(body, _items("1.1", "1.2", "1.3", "1.4", "1.5"))
    assert [o.state for o in outcomes] == ["stored", "stored_with_warning", "failed_retryable",
                                          "failed_permanent", "unknown"]
    assert outcomes[2].status_code == 0xA700


def test_empty_response_is_unknown() -> None:
    outcomes = parse_stow_response(Dataset(), _items("1.1"))
    assert outcomes[0].state == "unknown"


def test_json_round_trip_of_an_orthanc_style_failure() -> None:
    body = Dataset.from_json({
        "00081198": {"vr": "SQ", "Value": [{
            "00081150": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.7"]},
            "00081155": {"vr": "UI", "Value": ["1.9"]},
            "00081197": {"vr": "US", "Value": [0xA700]}}]}})
    assert parse_stow_response(body, _items("1.9"))[0].state == "failed_retryable"
