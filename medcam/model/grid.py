"""Model input grids: where a network's input voxels lie in LPS patient space.

Also the anti-aliasing rule: how much a series is smoothed before it is resampled
onto a grid (NumPy only, shared by the pipeline and the virtual scanner).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from medcam.geometry import Geometry, float3, int3
from medcam.model.spec import ModelSpec

__all__ = ["ANTIALIAS", "CANONICAL_AXIAL", "antialias_sigma", "canonical_grid", "model_grid"]

#: Anti-aliasing: Gaussian sigma (mm) = ANTIALIAS * sqrt(target_spacing^2 - source_spacing^2).
ANTIALIAS = 0.4
#: Direction of the canonical 3D grid: columns are the slice (+S), row (+P), column (+L) axes.
CANONICAL_AXIAL = (0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0)


def canonical_grid(center: NDArray[np.float64], size: tuple[int, ...],
                   spacing: tuple[float, ...]) -> Geometry:
    """The LPS axis-aligned 3D grid of ``size``/``spacing`` centred on ``center``."""
    direction = np.asarray(CANONICAL_AXIAL).reshape(3, 3)
    half = (np.asarray(size, dtype=float) - 1) / 2 * np.asarray(spacing)
    origin = np.asarray(center, dtype=float) - direction @ half
    return Geometry(int3(size), float3(spacing), float3(origin), CANONICAL_AXIAL)


def model_grid(spec: ModelSpec, geometry: Geometry) -> Geometry:
    """The input grid of ``spec`` for a series with ``geometry``."""
    if spec.spatial_dims == 3:
        grid = canonical_grid(geometry.center, spec.input_size, spec.input_spacing)
    else:
        size = (1, *spec.input_size)
        spacing = (geometry.spacing[0], *spec.input_spacing)
        half = (np.asarray(size, dtype=float) - 1) / 2 * np.asarray(spacing)
        origin = geometry.center - geometry.direction_matrix @ half
        grid = Geometry(int3(size), float3(spacing), float3(origin), geometry.direction)
    return Geometry(grid.shape, grid.spacing, grid.origin, grid.direction,
                    geometry.frame_of_reference_uid)


def antialias_sigma(source: Geometry, target: Geometry) -> NDArray[np.float64]:
    """Gaussian sigma (mm) per source axis (slice, row, column) before resampling.

    Per source axis, the target spacing along the most parallel target axis gives
    ``ANTIALIAS * sqrt(target^2 - source^2)`` where the target is coarser, 0 elsewhere
    (and along the slice axis of a single image).
    """
    proj = np.abs(target.direction_matrix.T @ source.direction_matrix)  # target x source
    tgt = np.asarray(target.spacing)
    src = np.asarray(source.spacing)
    eff = np.array([tgt[np.argmax(proj[:, a])] for a in range(3)])
    sigma = ANTIALIAS * np.sqrt(np.clip(eff**2 - src**2, 0.0, None))
    if source.shape[0] == 1:
        sigma[0] = 0.0
    return np.where(sigma > 0.05, sigma, 0.0)
