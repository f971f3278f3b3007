"""WADO-RS retrieval of a study (or one series) into a job's input folder.

The retrieval itself is :func:`medcam.pacs.dicomweb.retrieve`; this module checks
each instance (header, PHI registry, limits) and spools it atomically.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmwrite
from pydicom.dataset import Dataset

from medcam.errors import FetchError, PermanentFetchError, TransientFetchError
from medcam.pacs.dicomweb import make_client, retrieve
from service.headers import InvalidInstanceError, header_from_dataset
from service.jobs.models import FetchResult
from service.phi import PhiRegistry
from service.spool import Spool

__all__ = ["FetchError", "FetchResult", "PermanentFetchError", "StudyFetcher",
           "TransientFetchError"]


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
        return retrieve(make_client(self.base_url, self.connect_s, self.read_s), study, series)

    def fetch(self, study: str, series: str | None, dest: Path) -> FetchResult:
        """Retrieve into ``dest``; safe to repeat (same content, same file name).

        Raises:
            TransientFetchError: the server could not be reached or was busy.
            PermanentFetchError: the server refused (e.g. 404 unknown study), or the
                study holds no image instance or too many.

        """
        count, series_uids = 0, set()
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
