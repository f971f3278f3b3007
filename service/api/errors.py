"""Error bodies that never echo request content (which may carry patient data)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

__all__ = ["install_error_handlers"]

LOGGER = logging.getLogger(__name__)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # registered for that class only
        raise exc
    detail = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
               "type": str(e.get("type", ""))} for e in exc.errors()]
    for item in detail:  # pydantic quotes offending values in some messages
        if "'" in item["msg"] or '"' in item["msg"]:
            item["msg"] = "invalid value"
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    LOGGER.error("unhandled %s while serving a request", type(exc).__name__)
    return JSONResponse({"detail": "internal error"},
                        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)


def install_error_handlers(app: FastAPI) -> None:
    """Replace FastAPI's validation body (which echoes the input) and hide 500 details."""
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
