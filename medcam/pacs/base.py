"""What every PACS sender promises: one outcome per instance, never an infinite wait."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from medcam.errors import PermanentPushError, PushError

__all__ = ["PUSH_STATES", "RETRYABLE_STATES", "STORED_STATES", "VERIFICATION_SOP_CLASS",
           "FileOutcome", "PacsSender", "PushItem", "PushOutcome", "PushState",
           "classify_status", "outcomes_for_all", "read_push_item", "send_files", "send_items"]

#: The state of one instance on its way to a PACS (``pending``: not tried yet).
PushState = Literal["pending", "stored", "stored_with_warning", "failed_retryable",
                    "failed_permanent", "unknown"]
PUSH_STATES: tuple[PushState, ...] = ("pending", "stored", "stored_with_warning",
                                      "failed_retryable", "failed_permanent", "unknown")
#: Verification SOP Class (C-ECHO).
VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"
STORED_STATES: frozenset[PushState] = frozenset({"stored", "stored_with_warning"})
RETRYABLE_STATES: frozenset[PushState] = frozenset({"pending", "failed_retryable", "unknown"})
#: Warning statuses of a C-STORE (and STOW-RS WarningReason): the instance was stored.
_WARNINGS = frozenset({0x0001, 0x0107, 0x0116, 0xB000, 0xB006, 0xB007})
#: Failures worth retrying: out of resources, processing failure, duplicate invocation.
_RETRYABLE = frozenset({0x0110, 0x0210, 0x0213})


@dataclass(frozen=True)
class PushItem:
    """One file to send, with the identity it was recorded under."""

    sop_instance_uid: str
    study_instance_uid: str
    path: Path


@dataclass(frozen=True)
class PushOutcome:
    """What became of one instance (``detail`` never carries patient data)."""

    sop_instance_uid: str
    state: PushState
    status_code: int | None
    detail: str

    @property
    def stored(self) -> bool:
        """Whether the PACS holds the instance (stored, possibly with a warning)."""
        return self.state in STORED_STATES


@dataclass(frozen=True)
class FileOutcome:
    """What became of one file given to :func:`send_files`.

    ``sop_class_uid`` and ``outcome.sop_instance_uid`` are empty for a file that
    could not be read as DICOM.
    """

    path: Path
    sop_class_uid: str
    outcome: PushOutcome

    @property
    def stored(self) -> bool:
        """Whether the PACS holds this file's instance."""
        return self.outcome.stored


def classify_status(code: int) -> PushState:
    """Map a DIMSE status (or STOW-RS failure reason) to a push state (PS3.7 Annex C).

    ``0x0000`` stored; warnings stored_with_warning; ``0xA7xx`` (out of resources)
    and processing failures retryable; everything else (``0xA9xx`` data set does not
    match, ``0xCxxx`` cannot understand, ``0x0122`` SOP class not supported, ...)
    permanent.
    """
    if code == 0x0000:
        return "stored"
    if code in _WARNINGS:
        return "stored_with_warning"
    if code & 0xFF00 == 0xA700 or code in _RETRYABLE:
        return "failed_retryable"
    return "failed_permanent"


def outcomes_for_all(items: Sequence[PushItem], state: PushState, detail: str,
                     status_code: int | None = None) -> list[PushOutcome]:
    """Give every item the same outcome (a connection-level result)."""
    return [PushOutcome(i.sop_instance_uid, state, status_code, detail) for i in items]


class PacsSender(Protocol):
    """Sends files to the PACS and reports one outcome per item."""

    def send(self, items: Sequence[PushItem]) -> list[PushOutcome]:
        """Send ``items`` in one association or request; one outcome per item.

        Items may be of any SOP Class and transfer syntax: a C-STORE sender proposes
        one presentation context per (SOP Class, transfer syntax) pair present.

        Raises:
            TransientPushError: nothing could be sent, retrying may help (connection
                refused, association rejected transiently, server busy).
            PermanentPushError: nothing can ever be sent this way (presentation
                context rejected, endpoint refuses the request).

        """
        ...

    def echo(self) -> bool:
        """Whether the PACS answers a verification (C-ECHO or a DICOMweb query)."""
        ...


def send_items(sender: PacsSender, items: Sequence[PushItem]) -> list[PushOutcome]:
    """``sender.send(items)``, a connection-level failure turned into one outcome per item.

    A :class:`~medcam.errors.PermanentPushError` gives every item
    ``failed_permanent``, any other :class:`~medcam.errors.PushError`
    ``failed_retryable``; the detail is the error's message (no patient data).
    """
    if not items:
        return []
    try:
        return sender.send(items)
    except PushError as exc:
        state: PushState = ("failed_permanent" if isinstance(exc, PermanentPushError)
                            else "failed_retryable")
        return outcomes_for_all(items, state, str(exc))


def read_push_item(path: Path) -> tuple[PushItem, str]:
    """The push identity of a DICOM file and its SOP Class UID (header only).

    Raises:
        PermanentPushError: the file is not readable DICOM or lacks the UIDs.

    """
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        ds = dcmread(path, stop_before_pixels=True)
        item = PushItem(str(ds.SOPInstanceUID), str(ds.StudyInstanceUID), Path(path))
        return item, str(ds.SOPClassUID)
    except (InvalidDicomError, OSError, EOFError, ValueError, AttributeError, KeyError) as exc:
        raise PermanentPushError(f"file unreadable as DICOM ({type(exc).__name__})") from exc


def send_files(sender: PacsSender, paths: Sequence[Path]) -> list[FileOutcome]:
    """Send DICOM files of any SOP Classes in one go; one outcome per file, in order.

    A file that cannot be read is ``failed_permanent`` and the others are still
    sent; a connection-level failure (:class:`~medcam.errors.PushError`) gives every
    readable file ``failed_retryable`` (transient) or ``failed_permanent``.
    """
    read: list[tuple[Path, PushItem | None, str, str]] = []
    for path in paths:
        try:
            item, sop_class = read_push_item(path)
            read.append((Path(path), item, sop_class, ""))
        except PermanentPushError as exc:
            read.append((Path(path), None, "", str(exc)))
    items = [item for _, item, _, _ in read if item is not None]
    unique = list({i.sop_instance_uid: i for i in items}.values())
    sent = {o.sop_instance_uid: o for o in send_items(sender, unique)}
    return [FileOutcome(path, sop_class, sent[item.sop_instance_uid]) if item is not None
            else FileOutcome(path, "", PushOutcome("", "failed_permanent", None, why))
            for path, item, sop_class, why in read]
