"""STOW-RS push with dicomweb-client, parsed per instance whatever the HTTP status.

The response's ReferencedSOPSequence (stored, or stored with a WarningReason) and
FailedSOPSequence (FailureReason classified like a C-STORE status) are read from
200, 202, 400 and 409 answers alike. An instance the answer does not mention, or a
request that timed out after it was sent, is ``unknown``. Instances of any SOP
Class go in one multipart request per study (PS3.18 10.5). requests and
dicomweb-client (the ``pacs`` extra) are imported when a request is made.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from medcam.errors import PermanentPushError, TransientPushError
from medcam.pacs.base import PushItem, PushOutcome, classify_status
from medcam.pacs.dicomweb import TRANSIENT_HTTP, http_status, make_client

if TYPE_CHECKING:
    import requests
    from dicomweb_client.api import DICOMwebClient

__all__ = ["StowRsSender", "parse_stow_response"]


def _uid_of(item: Dataset) -> str | None:
    value = item.get("ReferencedSOPInstanceUID")
    return str(value) if value else None


def parse_stow_response(body: Dataset, items: Sequence[PushItem]) -> list[PushOutcome]:
    """One outcome per item from a STOW-RS response dataset."""
    found: dict[str, PushOutcome] = {}
    for ref in body.get("ReferencedSOPSequence", []):
        uid = _uid_of(ref)
        if uid is None:
            continue
        warning = ref.get("WarningReason")
        if warning is not None:
            found[uid] = PushOutcome(uid, "stored_with_warning", int(warning),
                                     f"STOW-RS warning 0x{int(warning):04X}")
        else:
            found[uid] = PushOutcome(uid, "stored", 0, "STOW-RS stored")
    for failed in body.get("FailedSOPSequence", []):
        uid = _uid_of(failed)
        if uid is None:
            continue
        reason = failed.get("FailureReason")
        code = int(reason) if reason is not None else None
        state = classify_status(code) if code is not None else "failed_permanent"
        if state in ("stored", "stored_with_warning"):
            state = "failed_permanent"
        text = f"STOW-RS failure 0x{code:04X}" if code is not None else "STOW-RS failure"
        found[uid] = PushOutcome(uid, state, code, text)
    return [found.get(i.sop_instance_uid) or PushOutcome(
        i.sop_instance_uid, "unknown", None, "not mentioned in the STOW-RS response")
        for i in items]


def _body_of(response: requests.Response | None) -> Dataset | None:
    if response is None or not response.content:
        return None
    try:
        return Dataset.from_json(response.json())
    except (ValueError, TypeError, KeyError, json.JSONDecodeError):
        return None


@dataclass(frozen=True)
class StowRsSender:
    """Sends files to a DICOMweb server's ``/studies/{study}`` STOW-RS endpoint.

    Args:
        base_url: the DICOMweb root (``MEDCAM_PACS_DICOMWEB``).
        connect_s: TCP connect timeout.
        read_s: time allowed for the server's answer.

    """

    base_url: str
    connect_s: float = 5.0
    read_s: float = 30.0

    def _client(self) -> DICOMwebClient:
        return make_client(self.base_url, self.connect_s, self.read_s)

    def echo(self) -> bool:  # noqa: D102
        import requests

        try:
            self._client().search_for_studies(limit=1)
        except (requests.RequestException, ValueError):
            return False
        return True

    def send(self, items: Sequence[PushItem]) -> list[PushOutcome]:  # noqa: D102
        by_study: dict[str, list[PushItem]] = {}
        for item in items:
            by_study.setdefault(item.study_instance_uid, []).append(item)
        found: dict[str, PushOutcome] = {}
        for study, group in by_study.items():
            for o in self._send_study(study, group):
                found[o.sop_instance_uid] = o
        return [found[i.sop_instance_uid] for i in items]

    def _send_study(self, study: str, items: list[PushItem]) -> list[PushOutcome]:
        import requests

        readable, outcomes = [], []
        datasets = []
        for item in items:
            try:
                datasets.append(dcmread(item.path))
                readable.append(item)
            except (InvalidDicomError, OSError, EOFError, ValueError) as exc:
                outcomes.append(PushOutcome(item.sop_instance_uid, "failed_permanent", None,
                                            f"output file unreadable ({type(exc).__name__})"))
        if not readable:
            return outcomes
        try:
            body = self._client().store_instances(datasets, study_instance_uid=study)
        except requests.HTTPError as exc:
            status = http_status(exc)
            parsed = _body_of(exc.response)
            if parsed is not None and ("FailedSOPSequence" in parsed
                                       or "ReferencedSOPSequence" in parsed):
                return outcomes + parse_stow_response(parsed, readable)
            if status in TRANSIENT_HTTP:
                raise TransientPushError(f"STOW-RS answered HTTP {status}") from exc
            raise PermanentPushError(f"STOW-RS answered HTTP {status}") from exc
        except (requests.ConnectionError, requests.ConnectTimeout) as exc:
            raise TransientPushError("cannot connect to the DICOMweb server") from exc
        except requests.RequestException as exc:
            return outcomes + [PushOutcome(i.sop_instance_uid, "unknown", None,
                                           f"no answer to STOW-RS ({type(exc).__name__})")
                               for i in readable]
        return outcomes + parse_stow_response(body, readable)
