"""Bring a series onto a model's input grid, and maps back, through one physical transform.

The model grid is a regular grid in patient space: centred on the series, with the
spec's size and spacing, and axis-aligned in LPS for 3D models (slice axis +S,
row axis +P, column axis +L: the canonical axial layout), or in the image's own
plane for 2D models. The series is resampled onto it in physical space (after
Gaussian anti-aliasing along every axis that is downsampled), and a map on the
grid is resampled back onto the series' own voxel grid through the same mapping,
so each source voxel receives the map value at the same point in the patient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
import torch
from numpy.typing import NDArray

from medcam.errors import ModelError
from medcam.geometry import Geometry
from medcam.model.grid import antialias_sigma, model_grid
from medcam.model.intensity import scale_intensity
from medcam.model.spec import ModelSpec
from medcam.series.sitk import to_sitk
from medcam.series.types import Series

__all__ = ["ModelInput", "map_to_source", "prepare"]


@dataclass(frozen=True)
class ModelInput:
    """The network input and the grid it lives on.

    Args:
        tensor: (1, 1, *input_size) float32 tensor, intensities scaled to [0, 1].
        grid: the input grid in LPS space (a 2D grid has shape (1, rows, columns)).

    """

    tensor: torch.Tensor
    grid: Geometry


def _resample(image: sitk.Image, grid: Geometry, default: float) -> NDArray[np.float32]:
    reference = to_sitk(np.zeros(grid.shape, dtype=np.float32), grid)
    out = sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, float(default),
                        sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out).astype(np.float32)


def _antialias(image: sitk.Image, source: Geometry, target: Geometry) -> sitk.Image:
    sigma = antialias_sigma(source, target)
    if not (sigma > 0).any():
        return image
    # SimpleITK orders axes (column, row, slice); sigma is in mm. Smooth only the axes
    # that are downsampled (the recursive filter refuses a zero sigma).
    for axis, s in enumerate(sigma[::-1]):
        if s > 0:
            f = sitk.RecursiveGaussianImageFilter()
            f.SetDirection(axis)
            f.SetSigma(float(s))
            f.SetOrder(sitk.RecursiveGaussianImageFilter.ZeroOrder)
            image = f.Execute(image)
    return image


def prepare(series: Series, spec: ModelSpec) -> ModelInput:
    """Resample ``series`` onto the input grid of ``spec`` and scale its intensities.

    Raises:
        ModelError: the series does not fit the model (modality, 2D vs 3D).

    """
    if spec.modalities and series.modality not in spec.modalities:
        raise ModelError(f"model {spec.name} accepts modality {'/'.join(spec.modalities)}, "
                         f"not {series.modality}")
    if spec.spatial_dims == 2 and not series.is_2d:
        raise ModelError(f"model {spec.name} takes a single 2D image, the series has "
                         f"{series.array.shape[0]} slices")
    if spec.spatial_dims == 3 and series.array.shape[0] < 2:
        raise ModelError(f"model {spec.name} takes a volume, the series has one slice")
    grid = model_grid(spec, series.geometry)
    outside = float(series.array.min()) if spec.outside_value is None else spec.outside_value
    image = _antialias(to_sitk(series.array, series.geometry), series.geometry, grid)
    values = _resample(image, grid, outside)
    scaled = scale_intensity(values, spec, series.photometric_interpretation == "MONOCHROME1")
    if spec.spatial_dims == 2:
        scaled = scaled[0]
    tensor = torch.from_numpy(np.ascontiguousarray(scaled))[None, None]
    return ModelInput(tensor, grid)


def map_to_source(values: NDArray[np.float32], grid: Geometry, source: Geometry
                  ) -> NDArray[np.float32]:
    """Resample a map on ``grid`` onto the ``source`` voxel grid (0 outside the grid).

    A 2D map (rows, columns) on a one-slice grid is accepted as is.
    """
    arr = np.asarray(values, dtype=np.float32).reshape(grid.shape)
    if grid.shape[0] == 1 and source.shape[0] == 1:
        # Same plane: give the map the slice thickness of the source so that the
        # source slice centre falls inside the one-slice grid.
        grid = Geometry(grid.shape, (source.spacing[0], *grid.spacing[1:]), grid.origin,
                        grid.direction, grid.frame_of_reference_uid)
    return _resample(to_sitk(arr, grid), source, 0.0)
