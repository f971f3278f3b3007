"""Synthetic CT cases generated at test time: random orientation, spacing and nodule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medcam.geometry import Geometry
from medcam.synthetic.phantom import ChestPhantom, Nodule, random_nodule, random_phantom

# (row cosine, column cosine) of the standard acquisition planes.
PLANES = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
}


@dataclass(frozen=True)
class CtCase:
    """A phantom 'scanned' on a geometry."""

    phantom: ChestPhantom
    geometry: Geometry
    nodule: Nodule | None


def random_rotation(rng: np.random.Generator, max_deg: float = 35.0) -> np.ndarray:
    """A rotation of at most ``max_deg`` degrees about a random axis."""
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = np.deg2rad(rng.uniform(10.0, max_deg))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def plane_direction(orientation: str, rng: np.random.Generator) -> np.ndarray:
    """Geometry direction (columns: slice normal, column cosine, row cosine)."""
    if orientation == "oblique":
        row, col = PLANES["axial"]
        rot = random_rotation(rng)
        row, col = rot @ np.asarray(row), rot @ np.asarray(col)
    else:
        row, col = (np.asarray(v) for v in PLANES[orientation])
    normal = np.cross(row, col)
    return np.stack([normal, col, row], axis=1)


def make_geometry(direction: np.ndarray, center: np.ndarray, fov_mm: tuple[float, float, float],
                  spacing: tuple[float, float, float], frame_uid: str | None = None) -> Geometry:
    """A grid of ``spacing`` covering ``fov_mm`` (slice, row, column) around ``center``."""
    shape = tuple(max(2, round(f / s)) for f, s in zip(fov_mm, spacing, strict=True))
    half = (np.asarray(shape) - 1) / 2 * np.asarray(spacing)
    origin = center - direction @ half
    return Geometry(shape, spacing, tuple(origin), tuple(direction.ravel()), frame_uid)


def random_ct_case(rng: np.random.Generator, orientation: str, *, lesion: bool = True,
                   diameter_mm: tuple[float, float] = (12.0, 24.0)) -> CtCase:
    """A chest CT case of random spacing (pixels 1.25-2.5 mm, slices 2-5 mm)."""
    phantom = random_phantom(rng)
    nodule = random_nodule(phantom, rng, diameter_mm=diameter_mm, p_lung=1.0) if lesion else None
    if nodule is not None:
        phantom = ChestPhantom(**{**phantom.__dict__, "nodule": nodule})
    spacing = (float(rng.uniform(2.0, 5.0)), float(rng.uniform(1.25, 2.5)))
    spacing3 = (spacing[0], spacing[1], spacing[1] * float(rng.uniform(0.8, 1.0)))
    direction = plane_direction(orientation, rng)
    center = np.asarray(phantom.center) + rng.uniform(-15, 15, 3)
    geometry = make_geometry(direction, center, (300.0, 320.0, 320.0), spacing3)
    return CtCase(phantom, geometry, nodule)
