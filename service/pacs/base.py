"""What every PACS sender promises: one outcome per instance, never an infinite wait."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from service.jobs.models import OutboxState

__all__ = ["RETRYABLE_STATES", "STORED_STATES", "VERIFICATION_SOP_CLASS", "PacsSender",
           "PushItem", "PushOutcome", "classify_status", "outcomes_for_all"]

#: Verification SOP Class (C-ECHO).
VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"
STORED_STATES: frozenset[OutboxState] = frozenset({"stored", "stored_with_warning"})
RETRYABLE_STATES: frozenset[OutboxState] = frozenset({"pending", "failed_retryable", "unknown"})
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
    state: OutboxState
    status_code: int | None
    detail: str


def classify_status(code: int) -> OutboxState:
    """Map a DIMSE status (or STOW-RS failure reason) to an outbox state.

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


def outcomes_for_all(items: Sequence[PushItem], state: OutboxState, detail: str,
                     status_code: int | None = None) -> list[PushOutcome]:
    """Give every item the same outcome (a connection-level result)."""
    return [PushOutcome(i.sop_instance_uid, state, status_code, detail) for i in items]


class PacsSender(Protocol):
    """Sends files to the PACS and reports one outcome per item."""

    def send(self, items: Sequence[PushItem]) -> list[PushOutcome]:
        """Send ``items`` in one association or request; one outcome per item.

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
