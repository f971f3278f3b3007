"""A DICOMweb archive: QIDO-RS to plan, WADO-RS to fetch each series in its worker.

``ARCHIVE`` is the DICOMweb base URL (``http://pacs:8042/dicom-web``) and
``--query`` a QIDO-RS query string (``ModalitiesInStudy=CT&StudyDate=20240101-``).
Study-level keys (:data:`STUDY_LEVEL_KEYS`) select studies, the other keys select
series within them; each series becomes one unit whose listing key is its sorted
SOP Instance UIDs (an instance's content is fixed by its UID in DICOM). A series
whose instances all have a non-image SOP Class is a planned skip.

A worker retrieves its series (WADO-RS) into ``.medcam-batch/spool/`` of the output
folder just before reading it (so retrieval overlaps with the other series' compute)
and removes it afterwards; the files are written with pydicom, so the content key
is the same on every run. The client, the paged QIDO-RS search and the WADO-RS
retrieval are :mod:`medcam.pacs.dicomweb` (shared with the service).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from pydicom import dcmwrite
from pydicom.dataset import Dataset

from medcam.batch.plan import Plan, PlannedOutcome
from medcam.batch.scancache import is_medcam_output
from medcam.batch.units import DicomwebLocation, WorkUnit, listing_key
from medcam.errors import BatchError, FetchError, NotDicomError
from medcam.pacs.dicomweb import make_client, retrieve, search_all
from medcam.series.headers import non_image_reason

__all__ = ["STUDY_LEVEL_KEYS", "is_dicomweb_url", "materialise", "parse_query",
           "plan_dicomweb"]

#: Query keys matched at the study level (QIDO-RS Table 10.6.1-5); the rest at the series.
STUDY_LEVEL_KEYS = frozenset({
    "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy",
    "ReferringPhysicianName", "StudyDescription", "StudyID", "PatientName", "PatientID",
    "PatientBirthDate", "PatientSex", "IssuerOfPatientID",
})
_TAGS = {"StudyInstanceUID": "0020000D", "SeriesInstanceUID": "0020000E",
         "Modality": "00080060", "SOPInstanceUID": "00080018", "SOPClassUID": "00080016",
         "Manufacturer": "00080070"}
_CONNECT_S, _READ_S = 10.0, 120.0
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9]*|[0-9A-Fa-f]{8}")


def is_dicomweb_url(text: str) -> bool:
    """Whether an archive argument is a DICOMweb base URL."""
    return text.startswith(("http://", "https://"))


def parse_query(query: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """Split a QIDO-RS query string into study-level and series-level filters.

    Args:
        query: ``key=value`` pairs joined by ``&`` (keys are DICOM keywords or tags).

    Returns:
        (study filters, series filters).

    Raises:
        BatchError: a pair has no ``=`` or a key is not a keyword or 8-digit tag.

    """
    study: dict[str, str] = {}
    series: dict[str, str] = {}
    if not query:
        return study, series
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise BatchError("--query must look like 'Key=value&Key2=value2'") from exc
    for key, value in pairs:
        if not _KEY.fullmatch(key):
            raise BatchError(f"--query key {key!r} is not a DICOM keyword or tag")
        (study if key in STUDY_LEVEL_KEYS else series)[key] = value
    return study, series


def _client(base_url: str) -> Any:  # noqa: ANN401 - dicomweb_client.DICOMwebClient
    return make_client(base_url, _CONNECT_S, _READ_S)


def _value(item: dict[str, Any], keyword: str) -> str:
    values = item.get(_TAGS[keyword], {}).get("Value") or [""]
    return str(values[0])


def _series_unit(client: Any, base_url: str, study: str,  # noqa: ANN401
                 item: dict[str, Any]) -> WorkUnit | PlannedOutcome:
    series, modality = _value(item, "SeriesInstanceUID"), _value(item, "Modality")
    instances = search_all(client.search_for_instances, study, series,
                        fields=["SOPClassUID", "Manufacturer"])
    uids = sorted({_value(i, "SOPInstanceUID") for i in instances})
    reasons, own = [], []
    for i in instances:
        ds = Dataset()
        ds.SOPClassUID = _value(i, "SOPClassUID")
        ds.Manufacturer = _value(i, "Manufacturer") or _value(item, "Manufacturer")
        reasons.append(non_image_reason(ds))
        own.append(is_medcam_output(ds))
    if instances and all(own):
        return PlannedOutcome(series, study, series, modality, "skipped", "medcam_output",
                              "a result series written by medcam", len(uids))
    if instances and all(reasons):
        return PlannedOutcome(series, study, series, modality, "skipped",
                              "not_an_image_series", str(reasons[0]), len(uids))
    return WorkUnit(key=series, study_instance_uid=study, series_instance_uid=series,
                    modality=modality, paths=(), n_instances=max(1, len(uids)),
                    listing_key=listing_key([series, *uids]),
                    location=DicomwebLocation(base_url, study, series))


def plan_dicomweb(base_url: str, query: str | None) -> Plan:
    """Plan a run over the series that a QIDO-RS query selects.

    Raises:
        BatchError: the server cannot be reached or refuses a query.

    """
    import requests

    study_filters, series_filters = parse_query(query)
    client = _client(base_url)
    units: list[WorkUnit] = []
    outcomes: list[PlannedOutcome] = []
    try:
        studies = search_all(client.search_for_studies, search_filters=study_filters)
        for study_item in studies:
            study = _value(study_item, "StudyInstanceUID")
            for item in search_all(client.search_for_series, study,
                                search_filters=series_filters, fields=["Manufacturer"]):
                found = _series_unit(client, base_url, study, item)
                (units if isinstance(found, WorkUnit) else outcomes).append(found)  # type: ignore[arg-type]
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        raise BatchError(f"the DICOMweb server answered HTTP {status} to a QIDO-RS "
                         "query") from exc
    except requests.RequestException as exc:
        raise BatchError(f"cannot query the DICOMweb server ({type(exc).__name__})") from exc
    units.sort(key=lambda u: (u.study_instance_uid, u.series_instance_uid))
    outcomes.sort(key=lambda o: (o.study_instance_uid, o.series_instance_uid))
    return Plan(tuple(units), tuple(outcomes), {"files": 0, "not_dicom": 0, "corrupt": 0,
                                                "no_series_uid": 0})


@contextmanager
def materialise(unit: WorkUnit, spool: Path) -> Iterator[Sequence[Path]]:
    """Yield the files of a unit: its own paths, or its DICOMweb series retrieved.

    Raises:
        NotDicomError: the series cannot be retrieved (the unit fails, the run goes on).

    """
    if unit.location is None:
        yield unit.paths
        return

    spool.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="series-", dir=spool))
    try:
        loc = unit.location
        paths = []
        try:
            for n, ds in enumerate(retrieve(_client(loc.base_url), loc.study_instance_uid,
                                            loc.series_instance_uid)):
                path = folder / f"{n:06d}.dcm"
                dcmwrite(path, ds, enforce_file_format=True)
                paths.append(path)
        except (FetchError, ValueError) as exc:
            cause = exc.__cause__ if isinstance(exc, FetchError) and exc.__cause__ else exc
            raise NotDicomError(f"WADO-RS retrieval of the series failed "
                                f"({type(cause).__name__})") from exc
        if not paths:
            raise NotDicomError("WADO-RS returned no instance for the series")
        yield tuple(paths)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
