"""``read_series``: one DICOM image series from disk into a :class:`Series`.

The steps, each in its own module: header pass and grouping (:mod:`.scan`),
limits on the declared size (:mod:`.pixels`), slice order and geometry
(:mod:`.stack`), then decoding (:mod:`.pixels`). Every failure is a
:class:`~medcam.errors.SeriesError` subclass whose message holds no patient data
(no names, IDs, dates or paths; UIDs and counts only).
"""

from __future__ import annotations

import filecmp
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from medcam.errors import NoImageSeriesError, NotAVolumeError, NotDicomError, PixelDataError
from medcam.series._pydicom import quiet_pydicom
from medcam.series.pixels import (
    check_limits,
    decode_into,
    default_window,
    output_photometric_interpretation,
)
from medcam.series.scan import (
    InstanceHeader,
    ScanResult,
    SeriesRef,
    group_series,
    non_image_reason,
    orphan_headers,
    scan,
)
from medcam.series.stack import plan_volume
from medcam.series.types import Series

__all__ = ["read_series"]

_LOG = logging.getLogger(__name__)
_MAX_UIDS_SHOWN = 5


def _no_series(result: ScanResult) -> NoImageSeriesError:
    if result.n_files == 0:
        return NoImageSeriesError("the input holds no files")
    if result.n_files == 1 and result.headers:
        ds = result.headers[0].dataset
        reason = non_image_reason(ds) or "it has an image SOP class but no Rows/Columns"
        return NoImageSeriesError(f"the file holds no image series: {reason}")
    return NoImageSeriesError(
        f"no image series among {result.n_files} files: {result.n_not_dicom} are not DICOM, "
        f"{result.n_corrupt} could not be parsed, {result.count('non_image')} are DICOM "
        f"objects that are not source images, {result.count('broken')} are image headers "
        "without Rows/Columns")


def _select(source: Path | str | Sequence[Path | str] | SeriesRef) -> list[InstanceHeader]:
    """Return the image headers of the one series under ``source``, or raise."""
    if isinstance(source, SeriesRef):
        result = scan(source.paths)
        groups = [g for g in group_series(result.headers)
                  if g.series_instance_uid == source.series_instance_uid]
    else:
        strict = isinstance(source, (str, Path)) and Path(source).is_file()
        result = scan(source, strict=strict)
        groups = group_series(result.headers)
    orphans = orphan_headers(result.headers)
    if not groups:
        raise _no_series(result)
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
    group = groups[0]
    if group.broken:
        raise PixelDataError(
            f"{len(group.broken)} instance(s) of series {group.series_instance_uid} hold no "
            "image (no Rows/Columns: a truncated or stripped header)")
    return list(group.images)


def _deduplicate(group: list[InstanceHeader]) -> list[InstanceHeader]:
    """Drop byte-identical copies of an instance; refuse different files with one UID."""
    kept: dict[str, InstanceHeader] = {}
    instances = []
    for header in group:
        uid = header.sop_instance_uid
        if uid and uid in kept:
            try:
                same = filecmp.cmp(kept[uid].path, header.path, shallow=False)
            except OSError as exc:
                raise NotDicomError("a file could not be read again") from exc
            if not same:
                raise NotAVolumeError("duplicate_sop_instance_uid",
                                      f"two different files hold SOP Instance UID {uid}")
            _LOG.info("ignoring a byte-identical copy of SOP Instance %s", uid)
            continue
        kept[uid] = header
        instances.append(header)
    return instances


def _check_uniform(instances: list[InstanceHeader]) -> str:
    datasets = [h.dataset for h in instances]
    if len({str(ds.get("SOPClassUID", "") or "") for ds in datasets}) > 1:
        raise NotAVolumeError("mixed_sop_class", "instances have different SOP Class UIDs")
    photometric = {output_photometric_interpretation(ds) for ds in datasets}
    if len(photometric) > 1:
        raise NotAVolumeError("mixed_photometric_interpretation",
                              "instances mix MONOCHROME1 and MONOCHROME2")
    return photometric.pop()


def read_series(source: Path | str | Sequence[Path | str] | SeriesRef) -> Series:
    """Read one DICOM image series into a volume in LPS patient space.

    Args:
        source: a folder holding one image series (searched recursively; files
            that are not DICOM and non-image objects are ignored), a single DICOM
            file, a sequence of files, or a :class:`SeriesRef` from
            :func:`~medcam.series.find_series`.

    Returns:
        The series: float32 values after the Modality LUT, slices in ascending
        order along the slice normal, with one header, SOP Instance UID, frame
        number and path per slice.

    Raises:
        NotDicomError: a path is missing, a single file given is not DICOM, or
            files under a folder look like DICOM but cannot be parsed (they could
            be slices of the series).
        NoImageSeriesError: no image series under the input.
        NotAVolumeError: several image series (reason ``multiple_series``: use
            ``find_series``), or slices that do not form a regular volume.
        UnsupportedTransferSyntaxError: no installed decoder for the pixel data.
        PixelDataError: pixel data missing, truncated or undecodable, or an instance
            of the series has no Rows/Columns.
        LimitExceededError: the series declares more than the configured limits.

    """
    with quiet_pydicom():
        instances = _deduplicate(_select(source))
        datasets = [h.dataset for h in instances]
        check_limits(datasets)
        photometric = _check_uniform(instances)
        plan = plan_volume(datasets)
        array = np.empty(plan.geometry.shape, dtype=np.float32)
        slots: dict[int, dict[int, int]] = {}
        for slice_index, ref in enumerate(plan.slices):
            slots.setdefault(ref.instance, {})[(ref.frame_number or 1) - 1] = slice_index
        for instance, frame_slots in slots.items():
            decode_into(instances[instance].path, datasets[instance], frame_slots, array)
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
        )
