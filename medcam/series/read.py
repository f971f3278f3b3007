"""``read_series``: one DICOM image series from disk into a :class:`Series`.

The steps, each in its own module: header pass and grouping (:mod:`.scan`),
limits on the declared size (:mod:`.pixels`), slice order and geometry
(:mod:`.stack`), then decoding (:mod:`.pixels`); what counts as a complete series,
and which losses fail it or only warn, is :mod:`.completeness`. Every failure is a
:class:`~medcam.errors.SeriesError` subclass whose message holds no patient data
(no names, IDs, dates or paths; UIDs and counts only); warnings travel in
:attr:`Series.warnings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from medcam.errors import (
    MissingSliceError,
    NotAVolumeError,
    NotDicomError,
    PixelDataError,
    SeriesError,
)
from medcam.series._pydicom import quiet_pydicom
from medcam.series.completeness import (
    deduplicate,
    edge_warnings,
    lost_files_warning,
    zero_slope_warnings,
)
from medcam.series.pixels import (
    check_limits,
    decode_into,
    default_window,
    output_photometric_interpretation,
)
from medcam.series.scan import (
    InstanceHeader,
    SeriesRef,
    group_series,
    no_series_error,
    orphan_headers,
    scan,
)
from medcam.series.stack import GEOMETRY_TOLERANCE, VolumePlan, plan_volume
from medcam.series.types import Series

__all__ = ["read_series"]

_MAX_UIDS_SHOWN = 5


@dataclass(frozen=True)
class _Selected:
    images: list[InstanceHeader]
    broken: list[InstanceHeader]
    n_lost: int
    warnings: list[str]


def _select(source: Path | str | Sequence[Path | str] | SeriesRef) -> _Selected:
    """Return the headers of the one series under ``source`` and what was lost, or raise."""
    if isinstance(source, SeriesRef):
        result = scan(source.paths)
        groups = [g for g in group_series(result.headers)
                  if g.series_instance_uid == source.series_instance_uid]
        n_lost, notes = source.n_lost + result.n_unreadable, list(source.warnings)
    else:
        strict = isinstance(source, (str, Path)) and Path(source).is_file()
        result = scan(source, strict=strict)
        groups = group_series(result.headers)
        n_lost, notes = result.n_unreadable, []
        if result.n_unreadable_dirs:
            notes.append(f"{result.n_unreadable_dirs} folder(s) under the input could not "
                         "be listed")
    orphans = orphan_headers(result.headers)
    if not groups:
        raise no_series_error(result)
    if len(groups) > 1:
        uids = ", ".join(g.series_instance_uid or "(none)" for g in groups[:_MAX_UIDS_SHOWN])
        raise NotAVolumeError(
            "multiple_series",
            f"the input holds {len(groups)} image series (Series Instance UIDs: {uids}"
            f"{', ...' if len(groups) > _MAX_UIDS_SHOWN else ''}); call "
            "medcam.series.find_series() and pass one of its SeriesRef to read_series()")
    if result.n_corrupt or orphans:
        raise NotDicomError(
            f"{result.n_corrupt} files under the input look like DICOM but cannot be parsed "
            f"and {len(orphans)} image headers have neither Series Instance UID nor "
            "Rows/Columns; they may hold slices of the series, so it is not read")
    return _Selected(list(groups[0].images), list(groups[0].broken), n_lost, notes)


def _check_uniform(instances: list[InstanceHeader]) -> str:
    datasets = [h.dataset for h in instances]
    if len({str(ds.get("SOPClassUID", "") or "") for ds in datasets}) > 1:
        raise NotAVolumeError("mixed_sop_class", "instances have different SOP Class UIDs")
    photometric = {output_photometric_interpretation(ds) for ds in datasets}
    if len(photometric) > 1:
        raise NotAVolumeError("mixed_photometric_interpretation",
                              "instances mix MONOCHROME1 and MONOCHROME2")
    return photometric.pop()


def _plan(datasets: list[Dataset], n_lost: int, geometry_tolerance: float,
          assume_pixel_spacing: float | None) -> VolumePlan:
    try:
        return plan_volume(datasets, geometry_tolerance=geometry_tolerance,
                           assume_pixel_spacing=assume_pixel_spacing)
    except MissingSliceError as exc:
        if not n_lost:
            raise
        raise PixelDataError(
            f"slice {exc.position} of {exc.total} is unreadable: the stack has a gap there "
            f"and {n_lost} file(s) beside the series could not be read or parsed") from exc


def _decode(instances: list[InstanceHeader], plan: VolumePlan
            ) -> tuple[np.ndarray, dict[int, SeriesError]]:
    """Decode every instance; return the volume and the failures per instance index."""
    array = np.empty(plan.geometry.shape, dtype=np.float32)
    slots: dict[int, dict[int, int]] = {}
    for slice_index, ref in enumerate(plan.slices):
        slots.setdefault(ref.instance, {})[(ref.frame_number or 1) - 1] = slice_index
    failures: dict[int, SeriesError] = {}
    for instance, frame_slots in slots.items():
        try:
            decode_into(instances[instance].path, instances[instance].dataset, frame_slots,
                        array)
        except (PixelDataError, NotDicomError) as exc:
            failures[instance] = exc
    return array, failures


def _edge_losses(plan: VolumePlan, failures: dict[int, SeriesError]) -> list[str]:
    """Warnings for failed end slices; raise for any other failed slice."""
    n = len(plan.slices)
    notes = []
    for k, ref in enumerate(plan.slices):
        exc = failures.get(ref.instance)
        if exc is None:
            continue
        if n < 3 or 0 < k < n - 1 or ref.frame_number is not None:
            raise PixelDataError(f"slice {k + 1} of {n} is unreadable: {exc}") from exc
        notes.append(f"slice {k + 1} of {n} (an end of the series) is unreadable and was "
                     f"left out: {exc}")
    return notes


def read_series(source: Path | str | Sequence[Path | str] | SeriesRef, *,
                geometry_tolerance: float = GEOMETRY_TOLERANCE,
                assume_pixel_spacing: float | None = None) -> Series:
    """Read one DICOM image series into a volume in LPS patient space.

    Args:
        source: a folder holding one image series (searched recursively; files
            that are not DICOM and non-image objects are ignored), a single DICOM
            file, a sequence of files, or a :class:`SeriesRef` from
            :func:`~medcam.series.find_series`.
        geometry_tolerance: in-plane drift allowed between slice positions, as a
            fraction of the smaller in-plane pixel spacing (see
            :mod:`medcam.series.stack`).
        assume_pixel_spacing: spacing (mm) for a projection image that declares
            none; ``None`` refuses such an image.

    Returns:
        The series: float32 values after the Modality LUT, slices in ascending
        order along the slice normal, with one header, SOP Instance UID, frame
        number and path per slice, and the warnings of :mod:`.completeness`.

    Raises:
        NotDicomError: a path is missing, a single file given is not DICOM, or
            files under a folder look like DICOM but cannot be parsed (they could
            be slices of the series), or nothing under the input can be read.
        NoImageSeriesError: no image series under the input.
        NotAVolumeError: several image series (reason ``multiple_series``: use
            ``find_series``), or slices that do not form a regular volume.
        UnsupportedTransferSyntaxError: no installed decoder for the pixel data.
        PixelDataError: pixel data missing, truncated or undecodable (``slice k of
            N is unreadable``), or an instance of the series has no Rows/Columns.
        LimitExceededError: the series declares more than the configured limits.

    """
    with quiet_pydicom():
        selected = _select(source)
        instances, broken, notes = deduplicate(selected.images, selected.broken)
        if broken:
            raise PixelDataError(
                f"{len(broken)} instance(s) of series {broken[0].series_instance_uid} hold "
                "no image (no Rows/Columns: a truncated or stripped header)")
        notes += lost_files_warning(selected.n_lost) + selected.warnings
        check_limits([h.dataset for h in instances])
        photometric = _check_uniform(instances)
        plan = _plan([h.dataset for h in instances], selected.n_lost, geometry_tolerance,
                     assume_pixel_spacing)
        array, failures = _decode(instances, plan)
        if failures:
            notes += _edge_losses(plan, failures)
            instances = [h for i, h in enumerate(instances) if i not in failures]
            plan = _plan([h.dataset for h in instances], selected.n_lost, geometry_tolerance,
                         assume_pixel_spacing)
            array, failures = _decode(instances, plan)
            if failures:
                raise next(iter(failures.values()))
        datasets = [h.dataset for h in instances]
        notes += plan.warnings + tuple(edge_warnings(datasets, plan)) \
            + tuple(zero_slope_warnings(datasets, plan))
        array.flags.writeable = False  # Series keeps a read-only array without copying
        first = plan.slices[0]
        ds = datasets[first.instance]
        return Series(
            array=array,
            geometry=plan.geometry,
            study_instance_uid=str(ds.get("StudyInstanceUID", "") or ""),
            series_instance_uid=str(ds.get("SeriesInstanceUID", "") or ""),
            sop_class_uid=str(ds.get("SOPClassUID", "") or ""),
            modality=str(ds.get("Modality", "") or ""),
            sop_instance_uids=tuple(instances[r.instance].sop_instance_uid for r in plan.slices),
            frame_numbers=tuple(r.frame_number for r in plan.slices),
            headers=tuple(datasets[r.instance] for r in plan.slices),
            photometric_interpretation=photometric,
            window=default_window(ds, first.frame_number),
            has_patient_geometry=plan.has_patient_geometry,
            paths=tuple(instances[r.instance].path for r in plan.slices),
            warnings=tuple(notes),
        )
