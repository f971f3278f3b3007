"""Voxel geometry in the DICOM patient frame (LPS).

A :class:`Geometry` places a (slice, row, column) voxel grid in patient space.
Conventions, declared once here and used everywhere:

* axis order of every array is ``AXIS_ORDER = ("slice", "row", "column")``;
* the patient frame is DICOM's ``LPS`` (x to the patient's Left, y Posterior,
  z Superior), never RAS;
* ``origin`` is the centre of voxel ``(0, 0, 0)``;
* ``direction`` is a 3x3 matrix whose *columns* are the unit vectors, in LPS,
  along which the slice, row and column indices grow. For a DICOM image the
  row index grows along the column direction cosines ``IOP[3:6]`` and the
  column index along the row direction cosines ``IOP[0:3]``;
* ``spacing`` is (between slices, between rows, between columns) in mm, so a
  DICOM ``PixelSpacing = [r, c]`` becomes ``spacing[1:] = (r, c)``.

The LPS position of voxel index ``(k, i, j)`` is
``origin + direction @ (spacing * (k, i, j))``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import SupportsFloat, SupportsInt

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["AXIS_ORDER", "ORTHONORMAL_TOLERANCE", "PATIENT_FRAME", "PROJECTION_DIRECTION",
           "Geometry", "float3", "int3"]

AXIS_ORDER = ("slice", "row", "column")
PATIENT_FRAME = "LPS"
#: Largest deviation of ``direction.T @ direction`` from identity accepted as orthonormal.
ORTHONORMAL_TOLERANCE = 1e-4
#: Placeholder direction of projection images (columns: slice, row, column axes), that
#: of an axial DICOM slice: row cosine (1, 0, 0) for the column axis, column cosine
#: (0, 1, 0) for the row axis, and their cross product (0, 0, 1) for the slice axis.
PROJECTION_DIRECTION: tuple[float, ...] = (0.0, 0.0, 1.0,
                                           0.0, 1.0, 0.0,
                                           1.0, 0.0, 0.0)


def int3(values: Iterable[SupportsInt]) -> tuple[int, int, int]:
    """Three integers (slice, row, column) from any iterable, e.g. a NumPy shape.

    Raises:
        ValueError: not exactly three values.

    """
    a, b, c = (int(v) for v in values)
    return a, b, c


def float3(values: Iterable[SupportsFloat]) -> tuple[float, float, float]:
    """Three floats (slice, row, column, or x, y, z) from any iterable, e.g. an array.

    Raises:
        ValueError: not exactly three values.

    """
    a, b, c = (float(v) for v in values)
    return a, b, c


@dataclass(frozen=True)
class Geometry:
    """A regular voxel grid in LPS patient space; valid once constructed.

    Args:
        shape: number of voxels along (slice, row, column).
        spacing: mm between voxel centres along (slice, row, column).
        origin: LPS position (mm) of the centre of voxel (0, 0, 0).
        direction: 9 numbers, the row-major 3x3 matrix whose columns are the LPS
            unit vectors of the slice, row and column axes.
        frame_of_reference_uid: DICOM Frame of Reference UID, if known.

    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]
    frame_of_reference_uid: str | None = None

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.shape)
        spacing = tuple(float(s) for s in self.spacing)
        origin = tuple(float(o) for o in self.origin)
        direction = tuple(float(d) for d in np.asarray(self.direction, dtype=float).ravel())
        if len(shape) != 3 or any(s < 1 for s in shape):
            raise ValueError(f"`shape` must be three positive integers, got {shape}")
        if len(spacing) != 3 or not all(np.isfinite(spacing)) or min(spacing) <= 0:
            raise ValueError(f"`spacing` must be three positive finite mm values, got {spacing}")
        if len(origin) != 3 or not all(np.isfinite(origin)):
            raise ValueError(f"`origin` must be three finite mm values, got {origin}")
        if len(direction) != 9 or not all(np.isfinite(direction)):
            raise ValueError("`direction` must hold 9 finite numbers (a 3x3 matrix)")
        d = np.asarray(direction).reshape(3, 3)
        if np.abs(d.T @ d - np.eye(3)).max() > ORTHONORMAL_TOLERANCE:
            raise ValueError("`direction` columns must be orthonormal unit vectors")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "direction", direction)

    @classmethod
    def from_affine(
        cls,
        affine: ArrayLike,
        shape: tuple[int, int, int],
        frame_of_reference_uid: str | None = None,
    ) -> Geometry:
        """Build a geometry from a 4x4 index-to-LPS affine (see :attr:`affine`)."""
        a = np.asarray(affine, dtype=float)
        spacing = np.linalg.norm(a[:3, :3], axis=0)
        direction = a[:3, :3] / spacing
        return cls(shape, tuple(spacing), tuple(a[:3, 3]), tuple(direction.ravel()),
                   frame_of_reference_uid)

    @property
    def direction_matrix(self) -> NDArray[np.float64]:
        """The 3x3 direction matrix (columns: slice, row, column axes in LPS)."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def affine(self) -> NDArray[np.float64]:
        """4x4 matrix mapping homogeneous (slice, row, column, 1) indices to LPS mm."""
        a = np.eye(4)
        a[:3, :3] = self.direction_matrix * np.asarray(self.spacing)
        a[:3, 3] = self.origin
        return a

    @property
    def slice_normal(self) -> NDArray[np.float64]:
        """Unit vector along which the slice index grows."""
        return self.direction_matrix[:, 0]

    @property
    def center(self) -> NDArray[np.float64]:
        """LPS position of the centre of the grid."""
        return self.index_to_lps((np.asarray(self.shape, dtype=float) - 1) / 2)

    def index_to_lps(self, index: ArrayLike) -> NDArray[np.float64]:
        """Map (..., 3) continuous (slice, row, column) indices to (..., 3) LPS points."""
        idx = np.asarray(index, dtype=float)
        a = self.affine
        return idx @ a[:3, :3].T + a[:3, 3]

    def lps_to_index(self, points: ArrayLike) -> NDArray[np.float64]:
        """Map (..., 3) LPS points to (..., 3) continuous (slice, row, column) indices."""
        p = np.asarray(points, dtype=float)
        a = self.affine
        return (p - a[:3, 3]) @ np.linalg.inv(a[:3, :3]).T

    def voxel_centers(self) -> NDArray[np.float64]:
        """LPS coordinates of every voxel centre, shaped ``shape + (3,)``."""
        grids = np.meshgrid(*(np.arange(n, dtype=float) for n in self.shape), indexing="ij")
        return self.index_to_lps(np.stack(grids, axis=-1))

    def is_close(self, other: Geometry, atol_mm: float = 1e-3) -> bool:
        """Whether both grids have the same shape and voxel positions within ``atol_mm``."""
        if self.shape != other.shape:
            return False
        corners = np.array(
            [[k, i, j] for k in (0, self.shape[0] - 1) for i in (0, self.shape[1] - 1)
             for j in (0, self.shape[2] - 1)],
            dtype=float,
        )
        return bool(np.abs(self.index_to_lps(corners) - other.index_to_lps(corners)).max()
                    <= atol_mm)

    def with_shape(self, shape: tuple[int, int, int]) -> Geometry:
        """The same grid placement with another shape (origin kept)."""
        return Geometry(shape, self.spacing, self.origin, self.direction,
                        self.frame_of_reference_uid)
