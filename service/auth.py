"""Bearer-token authentication (constant-time comparison)."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status

__all__ = ["bearer_matches", "require_token"]

_UNAUTHORIZED = HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid bearer token",
                              headers={"WWW-Authenticate": "Bearer"})


def bearer_matches(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries exactly ``Bearer <token>``."""
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode("utf-8"), token.encode("utf-8"))


def require_token(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries the configured token.

    Without a configured token (allowed only on loopback) every request passes.

    Raises:
        HTTPException: 401 with ``WWW-Authenticate: Bearer``.

    """
    secret = request.app.state.settings.api_token
    if secret is None:
        return
    if not bearer_matches(request.headers.get("authorization"), secret.get_secret_value()):
        raise _UNAUTHORIZED
