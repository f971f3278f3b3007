"""The application factory: ``create_app(settings)``; no settings are read at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from service.api import health, jobs, metrics, studies
from service.api.errors import install_error_handlers
from service.phi import PhiRegistry
from service.runtime import build_runtime
from service.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings, *, registry: PhiRegistry | None = None,
               start_background: bool = True) -> FastAPI:
    """Build the FastAPI app and the runtime behind it.

    Args:
        settings: validated settings.
        registry: patient values to scrub from logs (shared with the log filter).
        start_background: start the listener and the job loops with the app's lifespan.

    """
    runtime = build_runtime(settings, registry or PhiRegistry())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_background:
            await run_in_threadpool(runtime.start)
        try:
            yield
        finally:
            if runtime.started:
                await run_in_threadpool(runtime.stop)

    app = FastAPI(title="medcam", version="0.1.0", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.runtime = runtime
    install_error_handlers(app)
    for module in (health, studies, jobs, metrics):
        app.include_router(module.router)
    return app
