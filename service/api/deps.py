"""Typed FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.auth import require_token
from service.runtime import Runtime
from service.settings import Settings

__all__ = ["AUTHORIZED", "RuntimeDep", "SettingsDep"]


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


RuntimeDep = Annotated[Runtime, Depends(_runtime)]
SettingsDep = Annotated[Settings, Depends(_settings)]
#: Route dependency list demanding the bearer token.
AUTHORIZED = [Depends(require_token)]
