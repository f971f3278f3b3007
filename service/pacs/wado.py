"""WADO-RS retrieval of a study (or one series) into a job's input folder."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
from pydicom import dcmwrite
from pydicom.dataset import Dataset

from medcam.errors import MedcamError
from service.intake.headers import InvalidInstanceError, header_from_dataset
from service.intake.spool import Spool
from service.pacs.stowrs import make_client
from service.phi import PhiRegistry

__all__ = ["FetchError", "FetchResult", "PermanentFetchError", "StudyFetcher",
           "TransientFetchError"]

_TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})


class FetchError(MedcamError):
    """A study could not be retrieved from the PACS."""


class TransientFetchError(FetchError):
    """Retrieval failed in a way that may succeed when retried."""


class PermanentFetchError(FetchError):
    """Retrieval failed in a way that retrying cannot fix."""


@dataclass(frozen=True)
class FetchResult:
    """What a retrieval put into the input folder."""

    n_instances: int
    series_instance_uids: tuple[str, ...]


@dataclass(frozen=True)
class StudyFetcher:
    """Retrieves instances over WADO-RS and spools them atomically (names from hashes).

    Args:
        base_url: the DICOMweb root.
        spool: the spool (for its temporary folder).
        registry: where patient values are remembered for log scrubbing.
        connect_s: TCP connect timeout.
        read_s: read timeout per response chunk.
        max_instances: the most instances accepted for one job.
        max_bytes: the most bytes accepted for one instance.

    """

    base_url: str
    spool: Spool
    registry: PhiRegistry
    connect_s: float = 5.0
    read_s: float = 60.0
    max_instances: int = 10_000
    max_bytes: int = 512 << 20

    def _iter(self, study: str, series: str | None) -> Iterator[Dataset]:
        client = make_client(self.base_url, self.connect_s, self.read_s)
        if series is None:
            return client.iter_study(study)
        return client.iter_series(study, series)

    def fetch(self, study: str, series: str | None, dest: Path) -> FetchResult:
        """Retrieve into ``dest``; safe to repeat (same content, same file name).

        Raises:
            TransientFetchError: the server could not be reached or was busy.
            PermanentFetchError: the server refused (e.g. 404 unknown study), or the
                study holds no image instance or too many.

        """
        count, series_uids = 0, set()
        try:
            for ds in self._iter(study, series):
                try:
                    header = header_from_dataset(ds, self.registry)
                except InvalidInstanceError:
                    continue
                if not header.has_pixels or header.study_instance_uid != study:
                    continue
                count += 1
                if count > self.max_instances:
                    raise PermanentFetchError("the study holds more instances than allowed")
                self._store(ds, dest)
                series_uids.add(header.series_instance_uid)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            kind = TransientFetchError if status in _TRANSIENT_HTTP else PermanentFetchError
            raise kind(f"WADO-RS answered HTTP {status}") from exc
        except requests.RequestException as exc:
            raise TransientFetchError(f"WADO-RS failed ({type(exc).__name__})") from exc
        if count == 0:
            raise PermanentFetchError("WADO-RS returned no image instance for this UID")
        return FetchResult(count, tuple(sorted(series_uids)))

    def _store(self, ds: Dataset, dest: Path) -> None:
        buf = io.BytesIO()
        dcmwrite(buf, ds, enforce_file_format=True)
        data = buf.getvalue()
        if len(data) > self.max_bytes:
            raise PermanentFetchError("an instance is larger than allowed")
        tmp, digest = self.spool.write_bytes(data)
        self.spool.publish(tmp, digest, dest)
