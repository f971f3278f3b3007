"""``--push``: send each done series to a PACS with :mod:`medcam.pacs`.

Destinations: ``dicom://CALLED_AET@host:port`` (C-STORE, calling AE title from
``--calling-aet``) or an ``http(s)://`` DICOMweb base URL (STOW-RS). A series is
pushed by its worker right after it is published (or adopted); the outcome is
recorded in the manifest entry's ``push`` field and a series not fully stored is
pushed again by the next run with ``--push``. Output UIDs are deterministic, so a
repeated push replaces rather than duplicates.

The senders need the ``pacs`` extra (pynetdicom for ``dicom://``, dicomweb-client
for http(s)), part of the ``batch`` extra.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from medcam.batch.manifest import ManifestEntry
from medcam.errors import BatchError, PushError
from medcam.pacs.aet import is_ae_title
from medcam.pacs.base import PacsSender, PushItem

__all__ = ["PushTarget", "parse_push", "push_entry", "pushed"]

#: The module each kind of destination needs (from the ``pacs`` extra).
_NEEDS = {"dicomweb": "dicomweb_client", "dimse": "pynetdicom"}


@dataclass(frozen=True)
class PushTarget:
    """A parsed ``--push`` destination; ``label`` is what the manifest records."""

    kind: str
    label: str
    host: str = ""
    port: int = 0
    called_aet: str = ""
    calling_aet: str = ""
    base_url: str = ""


def parse_push(text: str, calling_aet: str = "MEDCAM") -> PushTarget:
    """Parse a ``--push`` destination.

    Raises:
        BatchError: not ``dicom://AET@host:port`` or an http(s) URL, or the
            ``pacs`` extra is not installed.

    """
    target = _parse(text, calling_aet)
    if importlib.util.find_spec(_NEEDS[target.kind]) is None:
        raise BatchError("--push needs the pacs extra (pip install 'medcam-dicom[pacs]')")
    return target


def _parse(text: str, calling_aet: str) -> PushTarget:
    parts = urlsplit(text)
    if parts.scheme in ("http", "https") and parts.hostname:
        if parts.username or parts.password:
            raise BatchError("--push URL must not hold credentials")
        return PushTarget("dicomweb", text.rstrip("/"), base_url=text.rstrip("/"))
    if parts.scheme == "dicom" and parts.hostname and parts.username:
        try:
            port = parts.port
        except ValueError:
            port = None
        if port and is_ae_title(parts.username) and is_ae_title(calling_aet):
            return PushTarget("dimse", f"dicom://{parts.username}@{parts.hostname}:{port}",
                              host=parts.hostname, port=port, called_aet=parts.username,
                              calling_aet=calling_aet)
    raise BatchError("--push must be dicom://AET@host:port or a DICOMweb http(s) URL")


def _sender(target: PushTarget) -> PacsSender:
    if target.kind == "dicomweb":
        from medcam.pacs.stowrs import StowRsSender

        return StowRsSender(target.base_url)
    from medcam.pacs.cstore import CStoreSender

    return CStoreSender(target.calling_aet, target.called_aet, target.host, target.port)


def pushed(entry: ManifestEntry, target: PushTarget) -> bool:
    """Whether ``entry``'s outputs were all stored at ``target``."""
    push = entry.push or {}
    return push.get("destination") == target.label and push.get("state") == "stored"


def push_entry(target: PushTarget, entry: ManifestEntry, out_dir: Path) -> ManifestEntry:
    """Send a done series' outputs; return the entry with its ``push`` outcome."""
    items = [PushItem(o["sop_instance_uid"], entry.study_instance_uid, out_dir / o["file"])
             for o in entry.outputs]
    kinds = [str(o["kind"]) for o in entry.outputs]
    try:
        outcomes = _sender(target).send(items)
    except PushError as exc:
        result = {"destination": target.label, "state": "failed", "stored": 0,
                  "failed": len(items), "detail": str(exc)}
        return entry.with_changes(push=result)
    bad = [o for o in outcomes if not o.stored]
    per_kind: dict[str, dict[str, int]] = {}
    for kind, outcome in zip(kinds, outcomes, strict=True):
        counts = per_kind.setdefault(kind, {"stored": 0, "failed": 0})
        counts["stored" if outcome.stored else "failed"] += 1
    result = {"destination": target.label, "state": "failed" if bad else "stored",
              "stored": len(outcomes) - len(bad), "failed": len(bad),
              "objects": per_kind, "detail": bad[0].detail if bad else None}
    return entry.with_changes(push=result)
