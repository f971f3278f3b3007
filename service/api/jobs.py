"""``/v1/jobs``: queue a study held by the PACS; read job states."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from medcam.errors import ExportError
from medcam.export.result_set import parse_outputs
from medcam.model.spec import builtin_names
from service.api.deps import AUTHORIZED, RuntimeDep
from service.jobs.models import Job, JobState, OutboxRow
from service.jobs.outbox import RepushRefusedError
from service.jobs.store import NewJob

__all__ = ["JobRequest", "JobView", "PushView", "router"]

router = APIRouter(dependencies=AUTHORIZED)

_UID = r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$"
#: Model and method names only: never a path on the server.
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"
_JOB_ID = r"^[0-9a-f]{32}$"


class JobRequest(BaseModel):
    """Explain a study (or one series of it) fetched from the PACS over WADO-RS."""

    model_config = ConfigDict(extra="forbid")

    study_instance_uid: str = Field(pattern=_UID, max_length=64)
    series_instance_uid: str | None = Field(None, pattern=_UID, max_length=64)
    model: str | None = Field(None, pattern=_NAME)
    method: str | None = Field(None, pattern=_NAME)
    #: the result objects to write (``"sc,pm,seg,sr,ko"`` or ``"all"``; default: the
    #: service's ``MEDCAM_OUTPUTS``)
    outputs: str | None = Field(None, pattern=r"^[a-z]{2,3}(,[a-z]{2,3}){0,4}$")


class PushView(BaseModel):
    """The push outcome of one output instance."""

    sop_instance_uid: str
    kind: str
    sop_class_uid: str | None
    state: str
    status_code: int | None
    detail: str | None
    attempts: int


class JobView(BaseModel):
    """Everything known about a job (no patient data)."""

    job_id: str
    state: JobState
    stage: str
    source: str
    model: str
    method: str
    outputs: str
    study_instance_uid: str | None
    series_instance_uid: str | None
    n_inputs: int
    attempts: int
    error: str | None
    probabilities: dict[str, float] | None
    results: list[dict[str, Any]]
    output_sop_instance_uids: list[str]
    #: per object kind, how many objects are in each push state
    objects: dict[str, dict[str, int]]
    push: list[PushView]
    created_at: float
    finished_at: float | None


def job_view(job: Job, rows: list[OutboxRow]) -> JobView:
    """Assemble the public view of a job and its outbox."""
    results = list((job.result or {}).get("results", []))
    done = [r for r in results if not r.get("error")]
    objects: dict[str, dict[str, int]] = {}
    for r in rows:
        per_kind = objects.setdefault(r.kind, {})
        per_kind[r.state] = per_kind.get(r.state, 0) + 1
    return JobView(
        job_id=job.id, state=job.state, stage=job.stage, source=job.source, model=job.model,
        method=job.method, outputs=job.outputs, study_instance_uid=job.study_instance_uid,
        series_instance_uid=job.series_instance_uid, n_inputs=job.n_inputs,
        attempts=job.attempts, error=job.error,
        probabilities=done[0].get("probabilities") if len(done) == 1 else None,
        results=results, output_sop_instance_uids=[r.sop_instance_uid for r in rows],
        objects=objects,
        push=[PushView(sop_instance_uid=r.sop_instance_uid, kind=r.kind,
                       sop_class_uid=r.sop_class_uid, state=r.state,
                       status_code=r.status_code, detail=r.detail, attempts=r.attempts)
              for r in rows],
        created_at=job.created_at, finished_at=job.finished_at)


#: The one answer for every model name that is not selectable (nothing about the disk).
UNKNOWN_MODEL = ("unknown model: choose a built-in model, MEDCAM_MODEL or a name listed in "
                 "MEDCAM_API_MODELS")


def selectable_models(default: str, listed: tuple[str, ...]) -> frozenset[str]:
    """Model names a client may ask for: built-ins, the default and the listed ones.

    A name is compared as a string only: the file system is never consulted, so a
    client learns nothing about which files exist on the server.
    """
    return frozenset((*builtin_names(), default, *listed))


@router.post("/v1/jobs", status_code=status.HTTP_202_ACCEPTED)
async def create_job(body: JobRequest, runtime: RuntimeDep) -> JobView:
    """Queue a job that retrieves the study from the PACS (durable before the 202)."""
    s = runtime.settings
    if not s.pacs_dicomweb:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "no DICOMweb PACS configured (MEDCAM_PACS_DICOMWEB)")
    if body.model is not None and body.model not in selectable_models(s.model, s.api_models):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, UNKNOWN_MODEL)
    try:
        outputs = ",".join(parse_outputs(body.outputs)) if body.outputs else s.outputs
    except ExportError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    new = NewJob(id=uuid.uuid4().hex, source="pacs", model=body.model or s.model,
                 outputs=outputs,
                 method=body.method or s.method, study_instance_uid=body.study_instance_uid,
                 series_instance_uid=body.series_instance_uid, stage="fetch")
    job, _ = await run_in_threadpool(runtime.store.create, new)
    return job_view(job, [])


@router.get("/v1/jobs/{job_id}")
async def get_job(job_id: str, runtime: RuntimeDep) -> JobView:
    """Return the state, results and push outcomes of one job."""
    valid = re.fullmatch(_JOB_ID, job_id) is not None
    job = await run_in_threadpool(runtime.store.get, job_id) if valid else None
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such job")
    rows = await run_in_threadpool(runtime.outbox.rows, job_id)
    return job_view(job, rows)


@router.post("/v1/jobs/{job_id}/push", status_code=status.HTTP_202_ACCEPTED)
async def repush_job(job_id: str, runtime: RuntimeDep) -> JobView:
    """Push a job's outputs again after its push failed (inference is not re-run).

    404: no such job; 409: the job is not a failed push, or its outputs are no longer
    kept (``MEDCAM_FAILED_RETENTION_HOURS``).
    """
    valid = re.fullmatch(_JOB_ID, job_id) is not None
    job = await run_in_threadpool(runtime.store.get, job_id) if valid else None
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such job")
    try:
        reopened = await run_in_threadpool(runtime.repush, job_id)
    except RepushRefusedError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if not reopened:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            "the job has no outputs to push (failed before its push stage, "
                            "or its folder was removed by the retention sweep)")
    again = await run_in_threadpool(runtime.store.get, job_id)
    rows = await run_in_threadpool(runtime.outbox.rows, job_id)
    return job_view(again or job, rows)


@router.get("/v1/jobs")
async def list_jobs(runtime: RuntimeDep, state: JobState | None = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[JobView]:
    """Jobs, newest first (without per-instance push details)."""
    jobs = await run_in_threadpool(runtime.store.list_jobs, state, limit)
    return [job_view(j, []) for j in jobs]
