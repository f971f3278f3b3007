"""``POST /v1/studies``: upload DICOM instances (multipart); one job per image series."""

from __future__ import annotations

import errno

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from service.api.deps import AUTHORIZED, RuntimeDep
from service.intake.upload import (
    MultipartSink,
    UploadLimitError,
    UploadRejectedError,
    boundary_of,
    identify_parts,
)

__all__ = ["QueuedJob", "UploadAccepted", "router"]

router = APIRouter(dependencies=AUTHORIZED)


class QueuedJob(BaseModel):
    """A job created (or matched) by an upload."""

    job_id: str
    state: str
    series_instance_uid: str | None


class UploadAccepted(BaseModel):
    """The answer to an accepted upload: its jobs are durable."""

    jobs: list[QueuedJob]
    n_instances: int


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "invalid Content-Length") from exc


#: Body bytes gathered on the event loop before one parse step runs in a worker thread.
_FEED_BYTES = 1 << 20


async def _receive(request: Request, sink: MultipartSink) -> None:
    """Read the body on the event loop; parse it and write its parts in worker threads.

    Part files are created and written by the parser's callbacks, so parsing on the
    event loop would stall every other request (``/healthz`` included) during a
    many-part upload.
    """
    pending: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        pending.append(chunk)
        size += len(chunk)
        if size >= _FEED_BYTES:
            await run_in_threadpool(sink.feed, b"".join(pending))
            pending, size = [], 0
    if pending:
        await run_in_threadpool(sink.feed, b"".join(pending))
    await run_in_threadpool(sink.finish)


@router.post("/v1/studies", status_code=status.HTTP_202_ACCEPTED)
async def upload_studies(request: Request, runtime: RuntimeDep) -> UploadAccepted:
    """Spool the uploaded instances and queue one job per image series.

    The 202 is sent only after every file is fsynced and every job row committed.
    """
    s = runtime.settings
    try:
        boundary = boundary_of(request.headers.get("content-type"))
    except UploadRejectedError as exc:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(exc)) from exc
    declared = _declared_length(request)
    if declared is not None and declared > s.max_upload_bytes:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            "the upload exceeds the configured size limit")
    sink = MultipartSink(runtime.spool, boundary, s.max_instances, s.max_instance_bytes,
                         s.max_upload_bytes)
    try:
        await _receive(request, sink)
        files = await run_in_threadpool(identify_parts, sink, runtime.registry)
        if not files:
            raise UploadRejectedError("the upload holds no image instance")
        jobs = await run_in_threadpool(runtime.intake.queue_upload, files)
    except UploadLimitError as exc:
        await run_in_threadpool(sink.discard)
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from exc
    except UploadRejectedError as exc:
        await run_in_threadpool(sink.discard)
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc
    except OSError as exc:
        await run_in_threadpool(sink.discard)
        if exc.errno == errno.ENOSPC:
            raise HTTPException(status.HTTP_507_INSUFFICIENT_STORAGE,
                                "no space left in the spool") from exc
        raise
    except BaseException:
        sink.discard()
        raise
    return UploadAccepted(
        jobs=[QueuedJob(job_id=j.id, state=j.state, series_instance_uid=j.series_instance_uid)
              for j in jobs],
        n_instances=len(files))
