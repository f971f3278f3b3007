"""Synthetic CT and radiograph cases (random orientation, spacing, nodule) for tests, benches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medcam.geometry import Geometry
from medcam.synthetic.acquisition import PLANES, make_geometry, plane_direction
from medcam.synthetic.phantom import (
    ChestPhantom,
    Nodule,
    projection_index,
    random_nodule,
    random_phantom,
    render_radiograph,
)

__all__ = ["PLANES", "CtCase", "DxCase", "make_geometry", "random_ct_case", "random_dx_case"]


@dataclass(frozen=True)
class CtCase:
    """A phantom 'scanned' on a geometry."""

    phantom: ChestPhantom
    geometry: Geometry
    nodule: Nodule | None


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


@dataclass(frozen=True)
class DxCase:
    """A PA radiograph of a phantom and where its nodule projects (row, column)."""

    image: np.ndarray
    pixel_spacing: float
    nodule_pixel: np.ndarray | None


def random_dx_case(rng: np.random.Generator, *, lesion: bool = True,
                   diameter_mm: tuple[float, float] = (12.0, 24.0)) -> DxCase:
    """A chest radiograph of random pixel spacing (1-2 mm) and field (330-420 mm)."""
    phantom = random_phantom(rng)
    nodule = random_nodule(phantom, rng, diameter_mm=diameter_mm, p_lung=1.0) if lesion else None
    if nodule is not None:
        phantom = ChestPhantom(**{**phantom.__dict__, "nodule": nodule})
    pixel = float(rng.uniform(1.0, 2.0))
    shape = (int(rng.uniform(330, 420) / pixel), int(rng.uniform(330, 420) / pixel))
    image = render_radiograph(phantom, shape, pixel, rng, depth_step_mm=4.0, noise=0.008)
    where = None if nodule is None else \
        projection_index(nodule.center, shape, pixel, phantom.center)
    return DxCase(image, pixel, where)
