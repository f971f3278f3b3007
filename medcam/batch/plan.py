"""Plan a batch run over a folder archive: one work unit per image series.

The archive is read header by header (pixel data never) and only a few fields of
each file are kept (:class:`~medcam.batch.scancache.HeaderFacts`, cached between runs
so a resumed run does not open known files again), so the memory used grows with the
number of files, not their size. Every file ends up in exactly one place:

* image instances: grouped by Series Instance UID into :class:`WorkUnit` s (an
  image without one is a unit of its own); byte-identical duplicate copies stay in
  the unit and are dropped when it is read, different files with one SOP Instance
  UID make it fail;
* image headers without Rows/Columns (truncated, stripped) go with the image series
  of their Series Instance UID, so that series fails instead of losing a slice; if
  the series has no readable image at all it is a planned failure (``broken_headers``);
* non-image objects (SR, SEG, RT, presentation states, ...) of a series without
  images: a planned skip (``not_an_image_series``), and so is a series of medcam's
  own result set (``medcam_output``: SC, Parametric Map, SEG, SR or KOS with
  Manufacturer ``medcam``), so outputs pushed back into an archive are never
  explained again;
* files that are not DICOM, cannot be parsed or have no Series Instance UID are
  counted; every unit with a file in the same folder carries a warning, since such
  a file may have been one of its slices; so are entries that cannot be read at all
  (``unreadable``: symlink loops, dangling links, FIFOs), which never stop the run.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType

from medcam.batch.scancache import HeaderFacts, ScanCache
from medcam.batch.units import WorkUnit, listing_key
from medcam.export.uids import derive_uid
from medcam.series.walk import walk_files

__all__ = ["PlannedOutcome", "Plan", "plan_folder"]


@dataclass(frozen=True)
class PlannedOutcome:
    """A series decided without a worker: skipped or failed (no patient data)."""

    key: str
    study_instance_uid: str
    series_instance_uid: str
    modality: str
    status: str
    reason: str
    message: str
    n_instances: int


@dataclass(frozen=True)
class Plan:
    """What a batch run has to do.

    Args:
        units: the image series, sorted by Study then Series Instance UID.
        outcomes: series decided at plan time.
        counts: files looked at and files that belong to no series
            (``files``, ``not_dicom``, ``corrupt``, ``unreadable``, ``no_series_uid``).

    """

    units: tuple[WorkUnit, ...]
    outcomes: tuple[PlannedOutcome, ...]
    counts: Mapping[str, int]

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", MappingProxyType(dict(self.counts)))


@dataclass(frozen=True)
class _File(HeaderFacts):
    """The header facts of a file with its path and its listing entry."""

    path: Path = Path()
    listed: tuple[str, int, int] = ("", 0, 0)


def _read(archive: Path, exclude: Path | None, cache: ScanCache,
          ) -> tuple[list[_File], dict[str, str], Counter[str], Counter[Path]]:
    """Header pass: kept files, a non-image reason per series, counts, dirs of lost files."""
    root = archive if archive.is_dir() else archive.parent
    files: list[_File] = []
    non_image: dict[str, str] = {}
    counts: Counter[str] = Counter()
    lost_dirs: Counter[Path] = Counter()
    listing = walk_files(archive)
    for path in listing.unreadable:
        counts["files"] += 1
        counts["unreadable"] += 1
        lost_dirs[path.parent] += 1
    for path in listing.files:
        if exclude is not None and path.absolute().is_relative_to(exclude):
            continue
        try:
            stat = path.stat()
        except OSError:
            continue  # removed while we looked
        rel = str(path.relative_to(root)) if path.is_relative_to(root) else path.name
        facts = cache.facts(path, rel, stat)
        counts["files"] += 1
        if facts.outcome != "dicom":
            counts[facts.outcome] += 1
            lost_dirs[path.parent] += 1
            continue
        if facts.kind == "broken" and not facts.series_instance_uid:
            counts["no_series_uid"] += 1
            lost_dirs[path.parent] += 1
            continue
        if facts.kind == "non_image":
            non_image.setdefault(facts.series_instance_uid,
                                 facts.non_image_reason or "not a source image")
        files.append(_File(**asdict(facts), path=path,
                           listed=(rel, stat.st_size, stat.st_mtime_ns)))
    return files, non_image, counts, lost_dirs


def _unit_key(files: list[_File]) -> str:
    first = files[0]
    if first.series_instance_uid:
        return first.series_instance_uid
    return derive_uid("batch-unit-without-series-uid", first.sop_instance_uid or first.listed[0])


def _warnings(files: Iterable[_File], lost_dirs: Counter[Path]) -> tuple[str, ...]:
    n = sum(lost_dirs[d] for d in {f.path.parent for f in files})
    if not n:
        return ()
    return (f"{n} file(s) in the folder(s) of this series are not readable DICOM or have no "
            "Series Instance UID; one of them may have been a slice of it",)


def _outcome(files: list[_File], status: str, reason: str, message: str) -> PlannedOutcome:
    first = files[0]
    return PlannedOutcome(_unit_key(files), first.study_instance_uid,
                          first.series_instance_uid, first.modality, status, reason, message,
                          len({f.sop_instance_uid or str(f.path) for f in files}))


def plan_folder(archive: Path, exclude: Path | None = None,
                cache: ScanCache | None = None) -> Plan:
    """Plan a run over a folder tree (or one file) of DICOM files in any arrangement.

    Args:
        archive: the folder or file.
        exclude: an absolute folder whose files are left out (the batch output, when
            it lies inside the archive).
        cache: header facts of earlier runs (:mod:`medcam.batch.scancache`); files it
            knows are not opened. The caller saves it.

    Returns:
        The plan.

    Raises:
        NotDicomError: ``archive`` does not exist.

    """
    files, non_image, counts, lost_dirs = _read(Path(archive), exclude,
                                                cache if cache is not None else ScanCache())
    groups: dict[tuple[str, str], list[_File]] = defaultdict(list)
    for f in files:
        own = "" if f.series_instance_uid else str(f.path)
        groups[(f.series_instance_uid, own)].append(f)
    units, outcomes = [], []
    for members in groups.values():
        images = [f for f in members if f.kind == "image"]
        if all(f.own_output for f in members):
            outcomes.append(_outcome(members, "skipped", "medcam_output",
                                     "a result series written by medcam"))
            continue
        if not images:
            broken = [f for f in members if f.kind == "broken"]
            if broken:
                outcomes.append(_outcome(broken, "failed", "broken_headers",
                                         f"{len(broken)} instance(s) of the series hold no "
                                         "image (no Rows/Columns: truncated or stripped)"))
            else:
                outcomes.append(_outcome(members, "skipped", "not_an_image_series",
                                         non_image.get(members[0].series_instance_uid, "")))
            continue
        series = images + [f for f in members if f.kind == "broken"]
        first = images[0]
        units.append(WorkUnit(
            key=_unit_key(series), study_instance_uid=first.study_instance_uid,
            series_instance_uid=first.series_instance_uid, modality=first.modality,
            paths=tuple(sorted(f.path for f in series)),
            n_instances=len({f.sop_instance_uid or str(f.path) for f in series}),
            listing_key=listing_key(f.listed for f in series),
            warnings=_warnings(series, lost_dirs)))
    units.sort(key=lambda u: (u.study_instance_uid, u.series_instance_uid, u.key))
    outcomes.sort(key=lambda o: (o.study_instance_uid, o.series_instance_uid, o.key))
    for name in ("files", "not_dicom", "corrupt", "unreadable", "no_series_uid"):
        counts.setdefault(name, 0)
    return Plan(tuple(units), tuple(outcomes), counts)

