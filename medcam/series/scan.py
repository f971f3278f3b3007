"""Find DICOM image series: header pass, grouping, ``find_series`` and :class:`SeriesRef`.

:func:`scan` (from :mod:`medcam.series.headers`) reads every file's header, never
its pixel data, and classifies it as image, non-image or broken. Image headers
are grouped by Series Instance UID (an image without one is a series of its own).
Broken headers travel with the series of their Series Instance UID, so that
reading it fails rather than dropping a slice; broken headers without a Series
Instance UID (:func:`orphan_headers`) could belong to any series.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from medcam.errors import NoImageSeriesError, NotDicomError, SeriesError
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
    "no_series_error",
    "header_kind",
    "non_image_reason",
    "orphan_headers",
    "scan",
    "scan_series",
    "series_ref",
]

@dataclass(frozen=True, repr=False)
class SeriesRef:
    """One image series found by :func:`find_series`.

    Args:
        series_instance_uid: Series Instance UID ("" if the instances have none).
        study_instance_uid: Study Instance UID ("" if absent).
        modality: Modality of the first instance ("" if absent).
        paths: the files holding the series' instances, sorted.
        n_instances: number of distinct SOP Instances among ``paths``.
        n_lost: files in the folders of ``paths`` that could not be read or parsed
            (any of them may have been a slice of this series).
        warnings: what the header pass noticed (no patient data).

    """

    series_instance_uid: str
    study_instance_uid: str
    modality: str
    paths: tuple[Path, ...]
    n_instances: int
    n_lost: int = 0
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        paths = tuple(Path(p) for p in self.paths)
        if not paths:
            raise ValueError("`paths` must hold at least one file")
        if not 1 <= self.n_instances <= len(paths):
            raise ValueError("`n_instances` must be between 1 and the number of paths")
        if self.n_lost < 0:
            raise ValueError("`n_lost` must not be negative")
        object.__setattr__(self, "paths", paths)
        object.__setattr__(self, "warnings", tuple(self.warnings))

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


def series_ref(group: SeriesGroup, lost_dirs: Counter[Path] | None = None,
               warnings: tuple[str, ...] = ()) -> SeriesRef:
    """Summarise one group from :func:`group_series`.

    Args:
        group: the headers of one series.
        lost_dirs: per folder, the files that could not be read or parsed.
        warnings: notes for every series of the scan.

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
        n_lost=sum((lost_dirs or Counter())[d] for d in {h.path.parent for h in members}),
        warnings=warnings,
    )


def scan_series(paths: Path | str | Sequence[Path | str]) -> tuple[list[SeriesRef], ScanResult]:
    """Find the image series under folders and files, and say what the scan found.

    Args:
        paths: a folder (searched recursively), a file, or a sequence of both.

    Returns:
        The series (as :func:`find_series`) and the :class:`ScanResult`.

    Raises:
        NotDicomError: a path does not exist.

    """
    result = scan(paths)
    groups = group_series(result.headers)
    lost_dirs: Counter[Path] = Counter(p.parent for p in result.lost)
    lost_dirs.update(h.path.parent for h in orphan_headers(result.headers))
    notes = (f"{result.n_unreadable_dirs} folder(s) under the input could not be listed",) \
        if result.n_unreadable_dirs else ()
    return [series_ref(group, lost_dirs, notes) for group in groups], result


def find_series(paths: Path | str | Sequence[Path | str]) -> list[SeriesRef]:
    """Find the image series under folders and files, reading headers only.

    Args:
        paths: a folder (searched recursively), a file, or a sequence of both.
            Files that are not DICOM and DICOM objects that are not source images
            are skipped; files that cannot be read or parsed and image headers
            without Series Instance UID or Rows/Columns are skipped and counted in
            the ``n_lost`` of every series in their folder.

    Returns:
        One :class:`SeriesRef` per image series, sorted by Study then Series
        Instance UID; empty if there is none.

    Raises:
        NotDicomError: a path does not exist.

    """
    return scan_series(paths)[0]


def no_series_error(result: ScanResult) -> SeriesError:
    """The error for a scan that found no image series, saying what it found instead.

    Args:
        result: the scan.

    Returns:
        :class:`NotDicomError` when nothing could be read at all (unreadable files or
        folders only), else :class:`NoImageSeriesError`.

    """
    if result.n_files == result.n_unreadable and (result.n_unreadable
                                                  or result.n_unreadable_dirs):
        return NotDicomError(
            f"the input could not be read: {result.n_unreadable} unreadable file(s) "
            f"(permission, dangling or looping link, empty, not a regular file) and "
            f"{result.n_unreadable_dirs} folder(s) that could not be listed")
    if result.n_files == 0:
        return NoImageSeriesError("the input holds no files")
    if result.n_files == 1 and result.headers:
        ds = result.headers[0].dataset
        reason = non_image_reason(ds) or "it has an image SOP class but no Rows/Columns"
        return NoImageSeriesError(f"the file holds no image series: {reason}")
    return NoImageSeriesError(
        f"no image series among {result.n_files} files: {result.n_not_dicom} are not DICOM, "
        f"{result.n_corrupt} could not be parsed, "
        f"{result.count('non_image')} are DICOM objects that are not source images, "
        f"{result.count('broken')} are image headers without Rows/Columns, "
        f"{result.n_unreadable} could not be read")
