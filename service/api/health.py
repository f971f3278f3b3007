"""``/healthz`` (alive, no token) and ``/readyz`` (database, spool, PACS)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from service.api.deps import AUTHORIZED, RuntimeDep
from service.runtime import Runtime

__all__ = ["Readiness", "router"]

router = APIRouter()


class Readiness(BaseModel):
    """Result of each readiness check."""

    ready: bool
    database: bool
    spool: bool
    pacs: bool
    background: bool


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers HTTP."""
    return {"status": "ok"}


def _spool_writable(runtime: Runtime) -> bool:
    try:
        path, _ = runtime.spool.write_bytes(b"readyz")
        path.unlink()
    except OSError:
        return False
    return True


def check_readiness(runtime: Runtime) -> Readiness:
    """Run every readiness check (the PACS check is a C-ECHO or a QIDO query)."""
    db = runtime.db.ping()
    spool = _spool_writable(runtime)
    pacs = runtime.sender.echo()
    background = runtime.started
    return Readiness(ready=db and spool and pacs and background, database=db, spool=spool,
                     pacs=pacs, background=background)


@router.get("/readyz", dependencies=AUTHORIZED)
async def readyz(runtime: RuntimeDep, response: Response) -> Readiness:
    """Readiness: 200 when every check passes, else 503 with the failing checks."""
    result = await run_in_threadpool(check_readiness, runtime)
    if not result.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return result
