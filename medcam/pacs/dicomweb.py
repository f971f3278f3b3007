"""The one DICOMweb client: QIDO-RS search and WADO-RS retrieval (PS3.18).

``dicomweb-client`` and ``requests`` (the ``pacs`` extra) are imported when a
client is built, so importing this module stays light. Every client has finite
timeouts and no retries of its own: the callers decide when to try again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from medcam.errors import PermanentFetchError, TransientFetchError

if TYPE_CHECKING:
    from dicomweb_client.api import DICOMwebClient
    from pydicom.dataset import Dataset

__all__ = ["PAGE", "TRANSIENT_HTTP", "http_status", "make_client", "retrieve", "search_all"]

#: HTTP statuses worth retrying (timeouts, rate limits, server overload).
TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504, 507})
#: Results asked for per QIDO-RS page.
PAGE = 500


def make_client(base_url: str, connect_s: float, read_s: float) -> DICOMwebClient:
    """A DICOMweb client for ``base_url`` with finite timeouts and no hidden retries."""
    from dicomweb_client.api import DICOMwebClient

    client = DICOMwebClient(url=base_url.rstrip("/"), timeout=(connect_s, read_s))
    client.set_http_retry_params(retry=False)
    return client


def http_status(exc: BaseException) -> int:
    """The HTTP status of a ``requests.HTTPError`` (0 when it has no response)."""
    response = getattr(exc, "response", None)
    return int(response.status_code) if response is not None else 0


def search_all(method: Callable[..., list[dict[str, Any]]], *args: str,
               **kwargs: Any) -> list[dict[str, Any]]:  # noqa: ANN401
    """All results of a QIDO-RS search method of the client, page by page.

    dicomweb-client's own ``get_remaining`` never ends against a server that ignores
    ``offset`` (Orthanc without a limit); here a page that brings nothing new ends it.
    """
    results: list[dict[str, Any]] = []
    seen: set[str] = set()
    while True:
        page = method(*args, limit=PAGE, offset=len(results), **kwargs)
        fresh = [r for r in page if json.dumps(r, sort_keys=True) not in seen]
        seen.update(json.dumps(r, sort_keys=True) for r in fresh)
        results.extend(fresh)
        if len(page) < PAGE or not fresh:
            return results


def retrieve(client: DICOMwebClient, study: str, series: str | None = None) -> Iterator[Dataset]:
    """The instances of a study (or of one of its series), streamed by WADO-RS.

    Raises:
        TransientFetchError: the server could not be reached, timed out or was busy.
        PermanentFetchError: the server refused the request (e.g. 404 unknown study).

    """
    import requests

    try:
        if series is None:
            yield from client.iter_study(study)
        else:
            yield from client.iter_series(study, series)
    except requests.HTTPError as exc:
        status = http_status(exc)
        kind = TransientFetchError if status in TRANSIENT_HTTP else PermanentFetchError
        raise kind(f"WADO-RS answered HTTP {status}") from exc
    except requests.RequestException as exc:
        raise TransientFetchError(f"WADO-RS failed ({type(exc).__name__})") from exc
