"""Find DICOM image series: header pass, grouping, ``find_series`` and :class:`SeriesRef`.

:func:`scan` (from :mod:`medcam.series.headers`) reads every file's header, never
its pixel data, and classifies it as image, non-image or broken. Image headers
are grouped by Series Instance UID (an image without one is a series of its own).
Broken headers travel with the series of their Series Instance UID, so that
reading it fails rather than dropping a slice; broken headers without a Series
Instance UID (:func:`orphan_headers`) could belong to any series.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from medcam.series.headers import (
    NON_SOURCE_SOP_CLASS_ROOTS,
    InstanceHeader,
    ScanResult,
    header_kind,
    non_image_reason,
    scan,
)

__all__ = [
    "NON_SOURCE_SOP_CLASS_ROOTS",
    "InstanceHeader",
    "ScanResult",
    "SeriesGroup",
    "SeriesRef",
    "find_series",
    "group_series",
    "header_kind",
    "non_image_reason",
    "orphan_headers",
    "scan",
    "series_ref",
]

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True, repr=False)
class SeriesRef:
    """One image series found by :func:`find_series`.

    Args:
        series_instance_uid: Series Instance UID ("" if the instances have none).
        study_instance_uid: Study Instance UID ("" if absent).
        modality: Modality of the first instance ("" if absent).
        paths: the files holding the series' instances, sorted.
        n_instances: number of distinct SOP Instances among ``paths``.

    """

    series_instance_uid: str
    study_instance_uid: str
    modality: str
    paths: tuple[Path, ...]
    n_instances: int

    def __post_init__(self) -> None:
        paths = tuple(Path(p) for p in self.paths)
        if not paths:
            raise ValueError("`paths` must hold at least one file")
        if not 1 <= self.n_instances <= len(paths):
            raise ValueError("`n_instances` must be between 1 and the number of paths")
        object.__setattr__(self, "paths", paths)

    def __repr__(self) -> str:
        """Show UIDs, modality and counts only (paths may carry patient names)."""
        return (f"SeriesRef(modality={self.modality!r}, n_instances={self.n_instances}, "
                f"series_instance_uid={self.series_instance_uid!r}, "
                f"study_instance_uid={self.study_instance_uid!r})")


@dataclass(frozen=True)
class SeriesGroup:
    """The headers of one image series.

    Args:
        images: its image instances, in path order.
        broken: headers with the same Series Instance UID but no image.

    """

    images: tuple[InstanceHeader, ...]
    broken: tuple[InstanceHeader, ...] = ()

    @property
    def series_instance_uid(self) -> str:
        """Series Instance UID, or ``""``."""
        return self.images[0].series_instance_uid


def group_series(headers: Iterable[InstanceHeader]) -> list[SeriesGroup]:
    """Group image headers by Series Instance UID (each UID-less image on its own).

    Args:
        headers: headers from :func:`scan`.

    Returns:
        The image series, sorted by Study then Series Instance UID, each with the
        broken headers of its Series Instance UID. Non-image headers, broken
        headers of other series and :func:`orphan_headers` are left out.

    """
    headers = list(headers)
    images: dict[tuple[str, str], list[InstanceHeader]] = {}
    broken: dict[str, list[InstanceHeader]] = {}
    for header in headers:
        uid = header.series_instance_uid
        if header.kind == "image":
            key = (uid, "") if uid else ("", str(header.path))
            images.setdefault(key, []).append(header)
        elif header.kind == "broken" and uid:
            broken.setdefault(uid, []).append(header)
    groups = [SeriesGroup(tuple(members), tuple(broken.get(uid, []) if uid else ()))
              for (uid, _), members in images.items()]

    def sort_key(group: SeriesGroup) -> tuple[str, str, str]:
        first = group.images[0]
        return (str(first.dataset.get("StudyInstanceUID", "") or ""),
                first.series_instance_uid, str(first.path))

    return sorted(groups, key=sort_key)


def orphan_headers(headers: Iterable[InstanceHeader]) -> list[InstanceHeader]:
    """Return the broken headers without Series Instance UID (they fit any series).

    Args:
        headers: headers from :func:`scan`.

    Returns:
        Those headers, in input order.

    """
    return [h for h in headers if h.kind == "broken" and not h.series_instance_uid]


def series_ref(group: SeriesGroup) -> SeriesRef:
    """Summarise one group from :func:`group_series`.

    Args:
        group: the headers of one series.

    Returns:
        Its :class:`SeriesRef`; ``paths`` include the broken headers of the series.

    """
    members = group.images + group.broken
    first = group.images[0].dataset
    uids = {h.sop_instance_uid or str(h.path) for h in members}
    return SeriesRef(
        series_instance_uid=group.series_instance_uid,
        study_instance_uid=str(first.get("StudyInstanceUID", "") or ""),
        modality=str(first.get("Modality", "") or ""),
        paths=tuple(sorted(h.path for h in members)),
        n_instances=len(uids),
    )


def find_series(paths: Path | str | Sequence[Path | str]) -> list[SeriesRef]:
    """Find the image series under folders and files, reading headers only.

    Args:
        paths: a folder (searched recursively), a file, or a sequence of both.
            Files that are not DICOM and DICOM objects that are not source images
            are skipped; unparseable DICOM files and image headers without Series
            Instance UID or Rows/Columns are skipped with a logged warning.

    Returns:
        One :class:`SeriesRef` per image series, sorted by Study then Series
        Instance UID; empty if there is none.

    Raises:
        NotDicomError: a path does not exist.

    """
    result = scan(paths)
    groups = group_series(result.headers)
    orphans = orphan_headers(result.headers)
    if result.n_corrupt or orphans:
        _LOG.warning("skipped %d DICOM files that could not be parsed and %d image headers "
                     "without Series Instance UID and Rows/Columns", result.n_corrupt,
                     len(orphans))
    return [series_ref(group) for group in groups]
