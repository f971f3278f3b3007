"""Acquisition geometries for synthetic scans: standard and oblique planes, any spacing.

A :class:`~medcam.geometry.Geometry` is built from the plane's row and column cosines
(as Image Orientation (Patient) gives them), a field of view and a spacing, centred on
a point in LPS. Used by the tests, the localisation benchmark and the demo-model
training, so that all three see the same acquisitions.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from medcam.geometry import Geometry, float3, int3

__all__ = ["ORIENTATIONS", "PLANES", "make_geometry", "plane_direction", "random_acquisition",
           "random_rotation"]

#: (row cosine, column cosine) of the standard acquisition planes, in LPS.
PLANES = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
}
ORIENTATIONS = (*PLANES, "oblique")


def random_rotation(rng: np.random.Generator, max_deg: float = 35.0,
                    min_deg: float = 10.0) -> NDArray[np.float64]:
    """A rotation by ``min_deg``-``max_deg`` degrees about a random axis (Rodrigues)."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = np.deg2rad(rng.uniform(min_deg, max_deg))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation: NDArray[np.float64] = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
    return rotation


def plane_direction(orientation: str, rng: np.random.Generator) -> NDArray[np.float64]:
    """Geometry direction (columns: slice normal, column cosine, row cosine).

    ``oblique`` is the axial plane turned 10-35 degrees about a random axis.
    """
    if orientation == "oblique":
        rot = random_rotation(rng)
        row, col = (rot @ np.asarray(v) for v in PLANES["axial"])
    else:
        row, col = (np.asarray(v) for v in PLANES[orientation])
    normal = np.cross(row, col)
    return np.stack([normal, col, row], axis=1)


def make_geometry(direction: NDArray[np.float64], center: NDArray[np.float64],
                  fov_mm: tuple[float, float, float], spacing: tuple[float, float, float],
                  frame_uid: str | None = None) -> Geometry:
    """A grid of ``spacing`` covering ``fov_mm`` (slice, row, column) around ``center``."""
    shape = int3(max(2, round(f / s)) for f, s in zip(fov_mm, spacing, strict=True))
    half = (np.asarray(shape) - 1) / 2 * np.asarray(spacing)
    origin = np.asarray(center) - direction @ half
    return Geometry(shape, spacing, float3(origin), tuple(direction.ravel()), frame_uid)


def random_acquisition(rng: np.random.Generator, center: NDArray[np.float64], *,
                       orientation: str | None = None,
                       pixel_mm: tuple[float, float] = (0.5, 2.5),
                       slice_mm: tuple[float, float] = (0.5, 5.0),
                       fov_mm: tuple[tuple[float, float], tuple[float, float]] = (
                           (200.0, 360.0), (280.0, 400.0)),
                       max_voxels: int = 40_000_000) -> Geometry:
    """A random CT acquisition around ``center``.

    Args:
        rng: random generator.
        center: LPS centre of the scanned volume.
        orientation: one of :data:`ORIENTATIONS` (random if ``None``).
        pixel_mm: range of the in-plane pixel spacing (rows and columns drawn
            separately within 20 % of each other: anisotropic pixels).
        slice_mm: range of the slice spacing.
        fov_mm: ranges of the extent along the slice axis and in plane.
        max_voxels: spacings are scaled up until the grid holds at most this many voxels.

    """
    name = orientation or str(rng.choice(ORIENTATIONS))
    row_mm = float(rng.uniform(*pixel_mm))
    spacing = np.array([rng.uniform(*slice_mm), row_mm, row_mm * rng.uniform(0.8, 1.0)])
    fov = np.array([rng.uniform(*fov_mm[0]), *([rng.uniform(*fov_mm[1])] * 2)])
    scale = max(1.0, (np.prod(fov / spacing) / max_voxels) ** (1 / 3))
    return make_geometry(plane_direction(name, rng), center, float3(fov),
                         float3(spacing * scale))
