"""Decide whether the frames of a series form a regular volume, and place it in LPS.

Slices are sorted by the projection of Image Position (Patient) on the slice
normal ``n = row cosine x column cosine`` (never by file name, Instance Number or
Slice Location), ascending. The volume's geometry is then:

* origin: the Image Position (Patient) of the first sorted slice;
* direction columns: ``(n, column cosine IOP[3:6], row cosine IOP[0:3])`` for the
  (slice, row, column) axes, after re-orthonormalising the cosines;
* spacing: (mean of the consecutive projected gaps, Pixel Spacing[0] between rows,
  Pixel Spacing[1] between columns). For one slice the slice spacing is Spacing
  Between Slices, else Slice Thickness, else 1.0.

Every check that fails raises :class:`~medcam.errors.NotAVolumeError` with a
reason code; no slice is ever dropped. Tolerances are the module constants below;
the in-plane drift allowed (gantry tilt check) is ``geometry_tolerance x the smaller
Pixel Spacing value + PERPENDICULAR_TOLERANCE_RELATIVE x the distance travelled
along the normal``, so it scales with the pixel size (default
:data:`GEOMETRY_TOLERANCE`: a tenth of a pixel). When every gap is a whole multiple
``m`` of the median gap and one ``m >= 2``, slices are missing inside the stack:
:class:`~medcam.errors.MissingSliceError` (reason ``missing_slice``) names the
position of the first missing one, rather than ``irregular_spacing``.

A single frame with neither Image Position nor Image Orientation (Patient) is a
projection image (DX, CR, MG, XA, US, SC, ...); see :mod:`medcam.series._projection`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from medcam.errors import MissingSliceError, NotAVolumeError
from medcam.geometry import PROJECTION_DIRECTION, Geometry
from medcam.series._frames import FrameInfo, SliceRef, frames_of
from medcam.series._projection import projection_spacing

__all__ = [
    "DUPLICATE_POSITION_TOLERANCE_MM",
    "GEOMETRY_TOLERANCE",
    "ORIENTATION_TOLERANCE",
    "ORTHONORMAL_INPUT_TOLERANCE",
    "PERPENDICULAR_TOLERANCE_RELATIVE",
    "PIXEL_SPACING_RELATIVE_TOLERANCE",
    "PROJECTION_DIRECTION",
    "SPACING_RELATIVE_TOLERANCE",
    "SliceRef",
    "VolumePlan",
    "plan_volume",
]

#: Each consecutive projected gap must be within this fraction of the mean gap.
SPACING_RELATIVE_TOLERANCE = 1e-2
#: Default largest in-plane drift of a slice position from the line through the first
#: position along the normal, as a fraction of the smaller in-plane pixel spacing
#: (plus the relative term below; catches gantry tilt). A drift of a tenth of a pixel
#: moves no voxel centre by more than 0.1 voxel.
GEOMETRY_TOLERANCE = 0.1
#: Relative part of the in-plane drift tolerance, per mm travelled along the normal.
PERPENDICULAR_TOLERANCE_RELATIVE = 1e-3
#: Largest difference between any Image Orientation (Patient) value and the first slice's.
ORIENTATION_TOLERANCE = 1e-4
#: Largest |norm - 1| of a direction cosine and |row . column| accepted before the
#: cosines are re-orthonormalised.
ORTHONORMAL_INPUT_TOLERANCE = 1e-3
#: Largest relative difference between the Pixel Spacing values of two slices.
PIXEL_SPACING_RELATIVE_TOLERANCE = 1e-4
#: Consecutive projected gaps below this (mm) mean two slices share a position.
DUPLICATE_POSITION_TOLERANCE_MM = 1e-3


@dataclass(frozen=True)
class VolumePlan:
    """The slices of a series in physical order and the grid they form.

    Args:
        geometry: the volume's grid in LPS (or a placeholder for projections).
        slices: the source of each slice, in slice order.
        has_patient_geometry: False for a projection image without Image
            Position/Orientation (Patient).
        warnings: what was assumed or corrected (no patient data).

    """

    geometry: Geometry
    slices: tuple[SliceRef, ...]
    has_patient_geometry: bool
    warnings: tuple[str, ...] = ()


def _pixel_spacing(frames: Sequence[FrameInfo]) -> tuple[float, float]:
    first = frames[0].pixel_spacing
    if any(f.pixel_spacing is None for f in frames) or first is None:
        raise NotAVolumeError("missing_pixel_spacing",
                              "Pixel Spacing is missing from a slice with a patient position")
    values = np.asarray([f.pixel_spacing for f in frames], dtype=float)
    if not np.isfinite(values).all() or (values <= 0).any():
        raise NotAVolumeError("bad_pixel_spacing",
                              "Pixel Spacing must be two positive finite numbers")
    if (np.abs(values - values[0]) > PIXEL_SPACING_RELATIVE_TOLERANCE * values[0]).any():
        raise NotAVolumeError("mixed_spacing", "slices have different Pixel Spacing")
    return float(first[0]), float(first[1])


def _cosines(frames: Sequence[FrameInfo]) -> tuple[NDArray[np.float64], ...]:
    if any(f.orientation is None for f in frames):
        raise NotAVolumeError("missing_orientation",
                              "a slice has no Image Orientation (Patient)")
    values = np.asarray([f.orientation for f in frames], dtype=float)
    if not np.isfinite(values).all():
        raise NotAVolumeError("invalid_orientation",
                              "Image Orientation (Patient) holds non-finite values")
    row, col = values[0, :3], values[0, 3:]
    if (abs(np.linalg.norm(row) - 1) > ORTHONORMAL_INPUT_TOLERANCE
            or abs(np.linalg.norm(col) - 1) > ORTHONORMAL_INPUT_TOLERANCE
            or abs(row @ col) > ORTHONORMAL_INPUT_TOLERANCE):
        raise NotAVolumeError(
            "non_orthonormal_orientation",
            f"Image Orientation (Patient) cosines are not orthonormal within "
            f"{ORTHONORMAL_INPUT_TOLERANCE}")
    if (np.abs(values - values[0]) > ORIENTATION_TOLERANCE).any():
        raise NotAVolumeError("mixed_orientation",
                              f"slices differ in Image Orientation (Patient) by more than "
                              f"{ORIENTATION_TOLERANCE}")
    row = row / np.linalg.norm(row)
    col = col - (col @ row) * row
    col = col / np.linalg.norm(col)
    return np.cross(row, col), col, row


def _positions(frames: Sequence[FrameInfo]) -> NDArray[np.float64]:
    if any(f.position is None for f in frames):
        raise NotAVolumeError("missing_position", "a slice has no Image Position (Patient)")
    positions = np.asarray([f.position for f in frames], dtype=float)
    if not np.isfinite(positions).all():
        raise NotAVolumeError("invalid_position",
                              "Image Position (Patient) holds non-finite values")
    return positions


def _missing_slices(gaps: NDArray[np.float64]) -> None:
    """Raise MissingSliceError when every gap is a whole multiple of the median gap."""
    if len(gaps) < 2:
        return
    median = float(np.median(gaps))
    multiple = np.rint(gaps / median)
    if (multiple < 2).all() or (multiple < 1).any() or (
            np.abs(gaps - multiple * median) > SPACING_RELATIVE_TOLERANCE * multiple * median
    ).any():
        return
    k = int(np.argmax(multiple >= 2))
    total = int(multiple.sum()) + 1
    raise MissingSliceError(
        k + 2, total,
        f"slice {k + 2} of {total} is missing: the gap after slice {k + 1} is "
        f"{int(multiple[k])} times the others ({gaps[k]:.4f} mm, median {median:.4f} mm)")


def _check_stack(positions: NDArray[np.float64], normal: NDArray[np.float64],
                 drift_mm: float) -> float:
    """Check sorted positions along ``normal``; return the mean slice spacing."""
    along = positions @ normal
    gaps = np.diff(along)
    if (gaps < DUPLICATE_POSITION_TOLERANCE_MM).any():
        k = int(np.argmin(gaps))
        raise NotAVolumeError(
            "duplicate_position",
            f"slices {k} and {k + 1} (in slice order) lie on the same plane; a series with "
            "several images per position (time points, echoes, ...) is not one volume")
    offsets = positions - positions[0]
    travelled = offsets @ normal
    drift = np.linalg.norm(offsets - np.outer(travelled, normal), axis=1)
    allowed = drift_mm + PERPENDICULAR_TOLERANCE_RELATIVE * np.abs(travelled)
    if (drift > allowed).any():
        k = int(np.argmax(drift - allowed))
        raise NotAVolumeError(
            "gantry_tilt",
            f"slice positions drift {drift[k]:.3f} mm in-plane from the slice normal by "
            f"slice {k} (tolerance {allowed[k]:.3f} mm; see --geometry-tolerance): gantry "
            "tilt or sheared stack")
    mean_gap = float((along[-1] - along[0]) / (len(along) - 1))
    deviation = np.abs(gaps - mean_gap)
    if (deviation > SPACING_RELATIVE_TOLERANCE * mean_gap).any():
        _missing_slices(gaps)
        k = int(np.argmax(deviation))
        raise NotAVolumeError(
            "irregular_spacing",
            f"the gap after slice {k} is {gaps[k]:.4f} mm, the mean gap {mean_gap:.4f} mm "
            f"(tolerance {SPACING_RELATIVE_TOLERANCE:.0%}); missing or misplaced slices")
    return mean_gap


def _projection_plan(ds: Dataset, frame: FrameInfo,
                     assume_pixel_spacing: float | None) -> VolumePlan:
    spacing, notes = projection_spacing(ds, assume_pixel_spacing)
    geometry = Geometry((1, frame.rows, frame.columns), (1.0, spacing[0], spacing[1]),
                        (0.0, 0.0, 0.0),
                        PROJECTION_DIRECTION, None)
    return VolumePlan(geometry, (frame.ref,), has_patient_geometry=False, warnings=notes)


def _frame_of_reference_uid(datasets: Sequence[Dataset]) -> str | None:
    uids = {str(ds.get("FrameOfReferenceUID", "") or "") for ds in datasets}
    if len(uids) > 1:
        raise NotAVolumeError("mixed_frame_of_reference",
                              "slices belong to different Frames of Reference")
    uid = uids.pop() if uids else ""
    return uid or None


def plan_volume(datasets: Sequence[Dataset], *, geometry_tolerance: float = GEOMETRY_TOLERANCE,
                assume_pixel_spacing: float | None = None) -> VolumePlan:
    """Sort the frames of a series into a volume and compute its geometry.

    Args:
        datasets: the headers of the series' instances (one per SOP Instance).
        geometry_tolerance: in-plane drift allowed, as a fraction of the smaller
            Pixel Spacing value (see the module docstring).
        assume_pixel_spacing: in-plane spacing (mm) for a projection image that
            declares none (see :mod:`medcam.series._projection`).

    Returns:
        The slice order and the volume geometry.

    Raises:
        NotAVolumeError: the frames do not form a regular volume (see the reason).
        PixelDataError: Rows, Columns or Number of Frames are invalid.

    """
    if not datasets:
        raise NotAVolumeError("empty", "the series holds no instance")
    frames = [f for i, ds in enumerate(datasets) for f in frames_of(i, ds)]
    if len({(f.rows, f.columns) for f in frames}) > 1:
        raise NotAVolumeError("mixed_size", "slices have different Rows or Columns")
    if len(frames) == 1 and frames[0].position is None and frames[0].orientation is None:
        return _projection_plan(datasets[0], frames[0], assume_pixel_spacing)
    normal, col, row = _cosines(frames)
    positions = _positions(frames)
    pixel_spacing = _pixel_spacing(frames)
    order = np.argsort(positions @ normal, kind="stable")
    positions = positions[order]
    if len(frames) > 1:
        slice_spacing = _check_stack(positions, normal,
                                     geometry_tolerance * min(pixel_spacing))
    else:
        slice_spacing = frames[0].slice_spacing or 1.0
    geometry = Geometry(
        shape=(len(frames), frames[0].rows, frames[0].columns),
        spacing=(slice_spacing, pixel_spacing[0], pixel_spacing[1]),
        origin=tuple(positions[0]),
        direction=tuple(np.column_stack([normal, col, row]).ravel()),
        frame_of_reference_uid=_frame_of_reference_uid(datasets),
    )
    return VolumePlan(geometry, tuple(frames[int(k)].ref for k in order), True)
