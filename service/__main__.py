"""``python -m service``: the HTTP API and the DICOM listener in one process."""

from __future__ import annotations

import logging
import os
import sys

import uvicorn
from pydantic import ValidationError

from service.logging import configure_logging
from service.main import create_app
from service.phi import PhiRegistry
from service.settings import Settings

LOGGER = logging.getLogger("service")


def _describe(exc: ValidationError) -> str:
    """Field names and rules only: the rejected values may be secrets."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
                     for e in exc.errors(include_input=False, include_url=False))


def main() -> int:
    """Run the service until SIGTERM/SIGINT; exit code 2 on invalid settings."""
    os.umask(0o077)  # every file of the service and its worker: owner only
    registry = PhiRegistry()
    configure_logging(registry, os.environ.get("MEDCAM_LOG_LEVEL", "INFO").upper())
    try:
        settings = Settings()
    except ValidationError as exc:
        LOGGER.error("refusing to start: %s", _describe(exc))
        return 2
    app = create_app(settings, registry=registry)
    config = uvicorn.Config(app, host=settings.http_host, port=settings.http_port,
                            log_config=None, access_log=True, timeout_graceful_shutdown=10,
                            server_header=False)
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
