"""Per-frame geometry attributes of single-frame, enhanced and classic multi-frame instances.

One :class:`FrameInfo` is made for every frame that would become a slice:

* a single-frame instance gives one, from its top-level attributes;
* an enhanced multi-frame instance (Shared/Per-frame Functional Groups) gives one
  per frame, from the Plane Position, Plane Orientation and Pixel Measures
  functional groups (per-frame first, then shared, then top level);
* a classic multi-frame instance without per-frame positions gives one per frame
  only if it holds Image Position/Orientation (Patient) and a slice spacing
  (Spacing Between Slices, else Slice Thickness): frame ``k`` is placed at
  ``IPP + k * spacing * normal``. Frames indexed by time (Frame Increment Pointer
  to a time attribute) or without that geometry raise :class:`NotAVolumeError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from medcam.errors import NotAVolumeError, PixelDataError
from medcam.series._pydicom import PYDICOM_ERRORS, BadValueError, get_float, get_floats, get_int

__all__ = ["TEMPORAL_FRAME_POINTERS", "FrameInfo", "SliceRef", "frames_of", "group_item",
           "is_enhanced", "number_of_frames"]

#: Frame Increment Pointer targets that index frames by time, not by position.
TEMPORAL_FRAME_POINTERS = frozenset(Tag(t) for t in (
    (0x0018, 0x1063),  # Frame Time
    (0x0018, 0x1065),  # Frame Time Vector
    (0x0054, 0x0070),  # Time Slot Vector
    (0x0054, 0x0100),  # Time Slice Vector
    (0x0018, 0x2002),  # Frame Label Vector
))


@dataclass(frozen=True)
class SliceRef:
    """Where one slice comes from.

    Args:
        instance: index of the instance in the list given to the planner.
        frame_number: 1-based frame number, or ``None`` for a single-frame instance.

    """

    instance: int
    frame_number: int | None


@dataclass(frozen=True)
class FrameInfo:
    """Geometry attributes of one frame, as found (not yet checked).

    Args:
        ref: which instance and frame.
        rows: Rows.
        columns: Columns.
        position: Image Position (Patient), or ``None``.
        orientation: Image Orientation (Patient), six values, or ``None``.
        pixel_spacing: Pixel Spacing (between rows, between columns), or ``None``.
        slice_spacing: Spacing Between Slices, else Slice Thickness, if positive.

    """

    ref: SliceRef
    rows: int
    columns: int
    position: tuple[float, ...] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, ...] | None
    slice_spacing: float | None


def _read(ds: Dataset | None, keyword: str, count: int, reason: str) -> tuple[float, ...] | None:
    if ds is None:
        return None
    try:
        return get_floats(ds, keyword, count)
    except BadValueError as exc:
        raise NotAVolumeError(reason, f"{keyword} is malformed (needs {count} numbers)") from exc


def _slice_spacing(ds: Dataset | None) -> float | None:
    if ds is None:
        return None
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = get_float(ds, keyword)
        if value is not None and value > 0:
            return abs(value)
    return None


def group_item(ds: Dataset, frame_index: int, keyword: str) -> Dataset | None:
    """Return the first item of a functional group for one frame (per-frame, then shared).

    Args:
        ds: an enhanced multi-frame data set.
        frame_index: 0-based frame index.
        keyword: the functional group sequence, e.g. ``"PixelMeasuresSequence"``.

    Returns:
        The first item of that sequence for the frame, or ``None``.

    Raises:
        NotAVolumeError: the functional group sequences are malformed.

    """
    try:
        for container in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence"):
            groups = ds.get(container)
            if not groups:
                continue
            index = frame_index if container.startswith("PerFrame") else 0
            if index >= len(groups):
                continue
            seq = groups[index].get(keyword)
            if seq:
                item: Dataset = seq[0]
                return item
    except PYDICOM_ERRORS as exc:
        raise NotAVolumeError("invalid_functional_groups",
                              f"the functional groups of {keyword} are malformed") from exc
    return None


def is_enhanced(ds: Dataset) -> bool:
    """Whether ``ds`` carries functional groups (enhanced multi-frame)."""
    return "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds


def number_of_frames(ds: Dataset) -> int | None:
    """Return Number of Frames, or ``None`` for a single-frame instance.

    Raises:
        PixelDataError: Number of Frames is present but not a positive integer.

    """
    if "NumberOfFrames" not in ds:
        return None
    n = get_int(ds, "NumberOfFrames")
    if n is None or n < 1:
        raise PixelDataError("Number of Frames is not a positive integer")
    return n


def _enhanced_frames(index: int, ds: Dataset, n: int, size: tuple[int, int]) -> list[FrameInfo]:
    frames = []
    for k in range(n):
        measures = group_item(ds, k, "PixelMeasuresSequence")
        position = _read(group_item(ds, k, "PlanePositionSequence"), "ImagePositionPatient",
                         3, "invalid_position")
        orientation = _read(group_item(ds, k, "PlaneOrientationSequence"),
                            "ImageOrientationPatient", 6, "invalid_orientation")
        spacing = _read(measures, "PixelSpacing", 2, "bad_pixel_spacing")
        frames.append(FrameInfo(
            SliceRef(index, k + 1), *size,
            position if position is not None
            else _read(ds, "ImagePositionPatient", 3, "invalid_position"),
            orientation if orientation is not None
            else _read(ds, "ImageOrientationPatient", 6, "invalid_orientation"),
            spacing if spacing is not None else _read(ds, "PixelSpacing", 2, "bad_pixel_spacing"),
            _slice_spacing(measures) or _slice_spacing(ds)))
    return frames


def _classic_frames(index: int, ds: Dataset, n: int, size: tuple[int, int]) -> list[FrameInfo]:
    try:
        pointers = ds.get("FrameIncrementPointer")
        items = [] if pointers is None else [pointers] if isinstance(pointers, int) else pointers
        pointer_tags = {Tag(t) for t in items}
    except PYDICOM_ERRORS:
        pointer_tags = set()
    if pointer_tags & TEMPORAL_FRAME_POINTERS:
        raise NotAVolumeError("temporal_frames",
                              f"the {n} frames of an instance are indexed by time, not position")
    position = _read(ds, "ImagePositionPatient", 3, "invalid_position")
    orientation = _read(ds, "ImageOrientationPatient", 6, "invalid_orientation")
    step = _slice_spacing(ds)
    if position is None or orientation is None or step is None:
        raise NotAVolumeError(
            "multi_frame_without_positions",
            f"an instance holds {n} frames but no per-frame positions, or no Image "
            "Position/Orientation (Patient) with a slice spacing to place them")
    row, col = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    normal = np.cross(row, col)
    norm = float(np.linalg.norm(normal))
    if not math.isfinite(norm) or norm == 0:
        raise NotAVolumeError("non_orthonormal_orientation",
                              "Image Orientation (Patient) has parallel or zero cosines")
    spacing = _read(ds, "PixelSpacing", 2, "bad_pixel_spacing")
    return [FrameInfo(SliceRef(index, k + 1), *size,
                      tuple(np.asarray(position) + k * step * normal / norm), orientation,
                      spacing, step) for k in range(n)]


def frames_of(index: int, ds: Dataset) -> list[FrameInfo]:
    """Return the frames of one instance, with their geometry attributes.

    Args:
        index: position of the instance in the planner's list.
        ds: its header.

    Returns:
        One :class:`FrameInfo` per frame.

    Raises:
        NotAVolumeError: malformed geometry attributes or frames that are not slices.
        PixelDataError: Rows, Columns or Number of Frames are not positive integers.

    """
    rows, columns = get_int(ds, "Rows"), get_int(ds, "Columns")
    if rows is None or columns is None or rows < 1 or columns < 1:
        raise PixelDataError("Rows and Columns must be positive integers")
    n = number_of_frames(ds)
    if is_enhanced(ds):
        return _enhanced_frames(index, ds, n or 1, (rows, columns))
    if n is not None and n > 1:
        return _classic_frames(index, ds, n, (rows, columns))
    return [FrameInfo(
        SliceRef(index, None if n is None else 1), rows, columns,
        _read(ds, "ImagePositionPatient", 3, "invalid_position"),
        _read(ds, "ImageOrientationPatient", 6, "invalid_orientation"),
        _read(ds, "PixelSpacing", 2, "bad_pixel_spacing"),
        _slice_spacing(ds))]
