"""Rows of the job store as frozen dataclasses."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from medcam.pacs.base import PUSH_STATES, PushState

__all__ = ["JOB_STATES", "OUTBOX_STATES", "FetchResult", "Fetcher", "Job", "JobState",
           "OutboxRow", "OutboxState", "Stage"]

JobState = Literal["queued", "running", "succeeded", "failed"]
Stage = Literal["fetch", "infer", "push", "done"]
#: The push state of one output instance (the library's :data:`~medcam.pacs.base.PushState`).
OutboxState = PushState
JOB_STATES: tuple[JobState, ...] = ("queued", "running", "succeeded", "failed")
OUTBOX_STATES: tuple[OutboxState, ...] = PUSH_STATES


@dataclass(frozen=True)
class Job:
    """One job: inputs of one series (DIMSE, upload) or one study/series fetched by UID."""

    id: str
    state: JobState
    stage: Stage
    source: str
    study_instance_uid: str | None
    series_instance_uid: str | None
    model: str
    method: str
    outputs: str
    n_inputs: int
    attempts: int
    error: str | None
    result: dict[str, Any] | None
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        """Build from a ``jobs`` row."""
        return cls(
            id=row["id"], state=row["state"], stage=row["stage"], source=row["source"],
            study_instance_uid=row["study_instance_uid"],
            series_instance_uid=row["series_instance_uid"], model=row["model"],
            method=row["method"], outputs=row["outputs"], n_inputs=row["n_inputs"],
            attempts=row["attempts"],
            error=row["error"], result=json.loads(row["result"]) if row["result"] else None,
            created_at=row["created_at"], updated_at=row["updated_at"],
            started_at=row["started_at"], finished_at=row["finished_at"],
        )


@dataclass(frozen=True)
class OutboxRow:
    """The push state of one output instance."""

    job_id: str
    sop_instance_uid: str
    study_instance_uid: str
    path: str
    kind: str
    sop_class_uid: str | None
    state: OutboxState
    status_code: int | None
    detail: str | None
    attempts: int
    next_attempt_at: float
    #: when the row last changed (the time of its last send outcome)
    updated_at: float = 0.0

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> OutboxRow:
        """Build from an ``outbox`` row."""
        return cls(
            job_id=row["job_id"], sop_instance_uid=row["sop_instance_uid"],
            study_instance_uid=row["study_instance_uid"], path=row["path"],
            kind=row["kind"], sop_class_uid=row["sop_class_uid"], state=row["state"],
            status_code=row["status_code"], detail=row["detail"],
            attempts=row["attempts"], next_attempt_at=row["next_attempt_at"],
            updated_at=row["updated_at"],
        )


@dataclass(frozen=True)
class FetchResult:
    """What a retrieval put into a job's input folder."""

    n_instances: int
    series_instance_uids: tuple[str, ...]


class Fetcher(Protocol):
    """Retrieves a study (or one series) into a job's input folder."""

    def fetch(self, study: str, series: str | None, dest: Path) -> FetchResult:
        """Retrieve into ``dest``; safe to repeat.

        Raises:
            TransientFetchError: worth retrying later.
            PermanentFetchError: retrying cannot help.

        """
        ...
