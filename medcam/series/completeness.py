"""Is a series complete? Duplicate copies, lost files, edge slices and constant slices.

The rule (every message counts slices, 1-based in physical slice order, and never
names a file, a path or a patient attribute):

* **Duplicate copies.** Byte-identical files with one SOP Instance UID are one
  instance. Different files with one SOP Instance UID: when exactly one copy's pixel
  data reads completely, it is used and the truncated or unreadable copies are
  ignored, with a warning; otherwise the series is refused
  (``duplicate_sop_instance_uid``). A header without Rows/Columns that shares its SOP
  Instance UID with a complete copy is ignored the same way.
* **Slice that cannot be decoded** (its header places it, its pixel data is missing,
  truncated or corrupt): the first or last slice is left out with a warning and the
  volume is planned again without it; any other slice fails the series with
  ``PixelDataError("slice k of N is unreadable: ...")``.
* **Files beside the series that cannot be read at all** (unreadable, empty, not
  parseable, no Series Instance UID: their position is unknown): always a warning.
  When the stack then has a gap of a whole number of slices, the series fails with
  ``PixelDataError("slice k of N is unreadable ...")``, not as irregular spacing; a
  gap without such files is :class:`~medcam.errors.MissingSliceError`.
* **Edge loss seen in the headers** (always a warning, never a refusal, since the
  slices present form a regular volume): Instance Numbers that run contiguously but
  start above 1, or a slice count that differs from Images in Acquisition
  (0020,1002).
* **Rescale Slope 0**: the slice is constant (its values are the intercept); a
  warning.
"""

from __future__ import annotations

import filecmp
from collections.abc import Sequence
from typing import Any

from pydicom.dataset import Dataset

from medcam.errors import (
    MedcamError,
    NotAVolumeError,
    NotDicomError,
    PixelDataError,
    UnsupportedTransferSyntaxError,
)
from medcam.series._pydicom import get_int
from medcam.series.headers import InstanceHeader
from medcam.series.pixels import check_decodable, rescale
from medcam.series.stack import VolumePlan

__all__ = ["deduplicate", "edge_warnings", "lost_files_warning", "zero_slope_warnings"]


def _complete(header: InstanceHeader) -> bool:
    if header.kind != "image":
        return False
    try:
        check_decodable(header.path, header.dataset)
    except UnsupportedTransferSyntaxError:
        return True  # complete as far as we can tell; decoding fails later for every copy
    except MedcamError:
        return False
    return True


def _same_bytes(a: InstanceHeader, b: InstanceHeader) -> bool:
    try:
        return filecmp.cmp(a.path, b.path, shallow=False)
    except OSError as exc:
        raise NotDicomError("a file could not be read again") from exc


def deduplicate(images: Sequence[InstanceHeader], broken: Sequence[InstanceHeader] = ()
                ) -> tuple[list[InstanceHeader], list[InstanceHeader], list[str]]:
    """Keep one copy of each SOP Instance (see the module docstring).

    Args:
        images: the image headers of one series, in path order.
        broken: headers of the series without Rows/Columns.

    Returns:
        ``(instances, broken headers left, warnings)``.

    Raises:
        NotAVolumeError: ``duplicate_sop_instance_uid``: two complete, different copies.
        NotDicomError: a file could not be read again.

    """
    copies: dict[str, list[InstanceHeader]] = {}
    order: list[str] = []
    for header in [*images, *broken]:
        uid = header.sop_instance_uid or f"\0{header.path}"
        if uid not in copies:
            order.append(uid)
        copies.setdefault(uid, []).append(header)
    instances: list[Any] = []
    left: list[Any] = []
    warnings: list[str] = []
    for uid in order:
        group = copies[uid]
        distinct: list[InstanceHeader] = []
        for header in group:
            if not any(_same_bytes(kept, header) for kept in distinct):
                distinct.append(header)
        if len(distinct) > 1:
            complete = [h for h in distinct if _complete(h)]
            if len(complete) != 1:
                if len(complete) > 1:
                    raise NotAVolumeError("duplicate_sop_instance_uid",
                                          f"two different files hold SOP Instance UID {uid}")
                complete = [next((h for h in distinct if h.kind == "image"), distinct[0])]
            else:
                warnings.append(
                    f"SOP Instance {uid}: {len(distinct) - 1} truncated or unreadable copy "
                    "ignored; the complete copy was used")
            distinct = complete
        (instances if distinct[0].kind == "image" else left).append(distinct[0])
    return instances, left, warnings


def lost_files_warning(n_lost: int, n_unreadable_dirs: int = 0) -> list[str]:
    """The warning for files beside a series that could not be read (see the docstring)."""
    notes = []
    if n_lost:
        notes.append(f"{n_lost} file(s) in the folder(s) of this series could not be read "
                     "or parsed (unreadable, empty, truncated or corrupt); one may have been "
                     "a slice of it")
    if n_unreadable_dirs:
        notes.append(f"{n_unreadable_dirs} folder(s) under the input could not be listed")
    return notes


def edge_warnings(datasets: Sequence[Dataset], plan: VolumePlan) -> list[str]:
    """Warnings for slices lost at the ends, as Instance Number and Images in Acquisition tell.

    Only single-frame series of several slices are checked.

    Args:
        datasets: the headers of the series' instances.
        plan: the planned volume.

    """
    n = len(plan.slices)
    if n < 2 or any(r.frame_number is not None for r in plan.slices):
        return []
    notes = []
    numbers = [get_int(datasets[r.instance], "InstanceNumber") for r in plan.slices]
    known = [k for k in numbers if k is not None]
    if len(known) == n and len(set(known)) == n and max(known) - min(known) == n - 1 \
            and min(known) > 1:
        notes.append(f"Instance Numbers start at {min(known)}: {min(known) - 1} slice(s) "
                     "before the first may be missing")
    declared = {get_int(datasets[r.instance], "ImagesInAcquisition") for r in plan.slices}
    declared.discard(None)
    if len(declared) == 1:
        count = declared.pop()
        if count is not None and count != n:
            notes.append(f"Images in Acquisition is {count} but the series has {n} slices; "
                         "slices may be missing")
    return notes


def zero_slope_warnings(datasets: Sequence[Dataset], plan: VolumePlan) -> list[str]:
    """Warnings for slices whose Rescale Slope is 0 (their values are constant)."""
    n = len(plan.slices)
    notes = []
    for k, ref in enumerate(plan.slices):
        try:
            slope, _ = rescale(datasets[ref.instance], (ref.frame_number or 1) - 1)
        except PixelDataError:
            continue  # reported when decoded
        if slope == 0:
            notes.append(f"slice {k + 1} of {n} has Rescale Slope 0: its values are constant")
    return notes
