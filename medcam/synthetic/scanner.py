"""A virtual scanner: phantoms acquired on any geometry and brought onto a model grid.

The demo models are trained on what the pipeline feeds them, not on volumes rendered
straight onto their input grid. A scan here follows the steps of
:func:`medcam.model.preprocess.prepare`, in torch on any device (a GPU renders a
training batch in milliseconds):

1. the phantom is sampled at the voxel centres of an acquisition
   :class:`~medcam.geometry.Geometry` (any orientation, pixel and slice spacing, partial
   coverage) and noise is added (:func:`acquire_ct`, :func:`acquire_radiograph`);
2. the volume is smoothed along each source axis by the pipeline's anti-aliasing rule
   (:func:`medcam.model.grid.antialias_sigma`);
3. it is resampled (trilinear) onto the model grid of :func:`medcam.model.grid.model_grid`,
   points outside the acquisition taking the spec's outside value (the series minimum
   where the spec gives none), as SimpleITK does for points beyond half a voxel;
4. intensities are scaled by :func:`medcam.model.intensity.scale_intensity`.

The one deliberate difference: step 2 uses a sampled Gaussian kernel (truncated at
3 sigma, edge values repeated) where the pipeline uses SimpleITK's recursive filter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from medcam.geometry import Geometry
from medcam.model.grid import antialias_sigma, model_grid
from medcam.model.intensity import scale_intensity
from medcam.model.spec import ModelSpec
from medcam.synthetic.phantom import ChestPhantom, Nodule, attenuation_integral, projection_index

__all__ = ["acquire_ct", "acquire_radiograph", "add_noise", "add_nodule", "add_nodule_attenuation",
           "gaussian_smooth", "grid_points", "resample", "to_model_input", "to_radiograph"]

#: Points evaluated at once when a phantom is rendered (bounds peak device memory).
_CHUNK_POINTS = 8_000_000


def grid_points(geometry: Geometry, device: torch.device | str = "cpu",
                box: tuple[slice, slice, slice] | None = None) -> Tensor:
    """LPS coordinates (float32) of the voxel centres, shaped ``shape + (3,)``.

    ``box`` restricts the grid to a (slice, row, column) sub-block, e.g. to render a
    large grid in slabs or a lesion in the box around it.
    """
    axes = [torch.arange(n, device=device, dtype=torch.float64) for n in geometry.shape]
    if box is not None:
        axes = [a[b] for a, b in zip(axes, box, strict=True)]
    index = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)
    affine = torch.as_tensor(geometry.affine, device=device)
    return (index @ affine[:3, :3].T + affine[:3, 3]).float()


def acquire_ct(phantom: ChestPhantom, geometry: Geometry, *, noise_hu: float = 12.0,
               generator: torch.Generator | None = None, device: torch.device | str = "cpu",
               edge_mm: float | None = None) -> Tensor:
    """HU volume of ``phantom`` at the voxel centres of ``geometry``, plus Gaussian noise."""
    per_slice = max(1, geometry.shape[1] * geometry.shape[2])
    step = max(1, _CHUNK_POINTS // per_slice)
    kw = {} if edge_mm is None else {"edge_mm": edge_mm}
    everything = slice(None)
    slabs = [phantom.evaluate(grid_points(geometry, device, (slice(s, s + step), everything,
                                                             everything)), **kw)
             for s in range(0, geometry.shape[0], step)]
    return add_noise(torch.cat(slabs, dim=0), noise_hu, generator)


def add_noise(values: Tensor, sigma: float, generator: torch.Generator | None = None
              ) -> Tensor:
    """``values`` plus Gaussian noise of standard deviation ``sigma`` (none if 0)."""
    if sigma <= 0:
        return values
    return values + sigma * torch.randn(values.shape, generator=generator,
                                        device=values.device)


def to_radiograph(total: Tensor, noise: float = 0.01,
                  generator: torch.Generator | None = None) -> Tensor:
    """Radiograph values in [0, 1] from an attenuation integral, plus noise.

    ``1 - exp(-total / 180 mm)``, as :func:`~medcam.synthetic.phantom.render_radiograph`,
    shaped ``(1, rows, columns)`` (a one-slice volume).
    """
    return add_noise(1.0 - torch.exp(-total / 180.0), noise, generator).clamp(0.0, 1.0)[None]


def add_nodule(volume: Tensor, phantom: ChestPhantom, nodule: Nodule, geometry: Geometry,
               margin_mm: float = 4.0) -> Tensor:
    """``volume`` (``phantom`` acquired on ``geometry``) with ``nodule`` added, exactly.

    Only the voxels within the nodule's bounding sphere (plus ``margin_mm`` for its
    soft edge) change, by the difference between the phantom with and without it, so
    a pool of nodule-free acquisitions serves many training cases.
    """
    centre = geometry.lps_to_index(np.asarray(nodule.center))
    reach = (max(nodule.radii) + margin_mm) / np.asarray(geometry.spacing)
    lo = np.clip(np.floor(centre - reach), 0, np.asarray(geometry.shape)).astype(int)
    hi = np.clip(np.ceil(centre + reach) + 1, 0, np.asarray(geometry.shape)).astype(int)
    if (hi <= lo).any():
        return volume
    (a0, a1, a2), (b0, b1, b2) = (int(v) for v in lo), (int(v) for v in hi)
    box = (slice(a0, b0), slice(a1, b1), slice(a2, b2))
    points = grid_points(geometry, volume.device, box)
    with_nodule = replace(phantom, nodule=nodule)
    out = volume.clone()
    out[box] += with_nodule.evaluate(points) - replace(phantom, nodule=None).evaluate(points)
    return out


def add_nodule_attenuation(total: Tensor, phantom: ChestPhantom, nodule: Nodule,
                           pixel_spacing: float, depth_step_mm: float,
                           center: tuple[float, float, float] | None = None,
                           margin_mm: float = 4.0) -> Tensor:
    """An attenuation integral of ``phantom`` with ``nodule``'s line integrals added.

    ``total`` is :func:`~medcam.synthetic.phantom.attenuation_integral` of the nodule-free
    phantom (same pixel spacing, depth step and centre); only the pixels whose rays
    can cross the nodule are recomputed, with and without it.
    """
    c = np.asarray(phantom.center if center is None else center, dtype=float)
    rows, cols = total.shape
    reach = (max(nodule.radii) + margin_mm) / pixel_spacing
    r, k = projection_index(nodule.center, (rows, cols), pixel_spacing, c)
    r0, r1 = max(0, int(np.floor(r - reach))), min(rows, int(np.ceil(r + reach)) + 1)
    k0, k1 = max(0, int(np.floor(k - reach))), min(cols, int(np.ceil(k + reach)) + 1)
    if r1 <= r0 or k1 <= k0:
        return total
    window = (float(c[0] + ((k0 + k1 - 1) / 2 - (cols - 1) / 2) * pixel_spacing), float(c[1]),
              float(c[2] - ((r0 + r1 - 1) / 2 - (rows - 1) / 2) * pixel_spacing))
    delta = [attenuation_integral(replace(phantom, nodule=n), (r1 - r0, k1 - k0), pixel_spacing,
                                  depth_step_mm, like=total, center=window)
             for n in (nodule, None)]
    out = total.clone()
    out[r0:r1, k0:k1] += delta[0] - delta[1]
    return out


def acquire_radiograph(phantom: ChestPhantom, shape: tuple[int, int], pixel_spacing: float,
                       *, noise: float = 0.01, depth_step_mm: float = 2.0,
                       center: tuple[float, float, float] | None = None,
                       generator: torch.Generator | None = None,
                       device: torch.device | str = "cpu") -> Tensor:
    """A PA radiograph in [0, 1] as :func:`~medcam.synthetic.phantom.render_radiograph`.

    ``center`` is the LPS point at the image centre (default: the phantom's centre).
    Returned shaped ``(1, rows, columns)`` (a one-slice volume).
    """
    like = torch.zeros((), dtype=torch.float32, device=device)
    total = attenuation_integral(phantom, shape, pixel_spacing, depth_step_mm, like=like,
                                 center=center)
    return to_radiograph(total, noise, generator)


def gaussian_smooth(volume: Tensor, sigma_voxels: Sequence[float]) -> Tensor:
    """Separable Gaussian smoothing of a (slice, row, column) volume, per-axis sigma."""
    out = volume[None, None]
    for axis, sigma in enumerate(sigma_voxels):
        if sigma <= 0 or volume.shape[axis] == 1:
            continue
        radius = max(1, math.ceil(3.0 * sigma))
        x = torch.arange(-radius, radius + 1, device=volume.device, dtype=volume.dtype)
        kernel = torch.exp(-0.5 * (x / sigma) ** 2)
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = kernel.numel()
        pad = [0, 0, 0, 0, 0, 0]
        pad[2 * (2 - axis)] = pad[2 * (2 - axis) + 1] = radius
        out = F.conv3d(F.pad(out, pad, mode="replicate"), (kernel / kernel.sum()).view(shape))
    return out[0, 0]


def resample(volume: Tensor, source: Geometry, grid: Geometry, outside: float) -> Tensor:
    """Trilinear resampling of ``volume`` (on ``source``) at the voxel centres of ``grid``.

    Grid points more than half a voxel outside the source take ``outside``.
    """
    device = volume.device
    affine = torch.as_tensor(source.affine, device=device)
    to_index = torch.linalg.inv(affine[:3, :3]).float()
    index = (grid_points(grid, device) - affine[:3, 3].float()) @ to_index.T
    size = torch.as_tensor(source.shape, device=device, dtype=torch.float32)
    inside = ((index >= -0.5) & (index <= size - 0.5)).all(dim=-1)
    normalised = torch.where(size > 1, index / (size - 1).clamp(min=1) * 2 - 1,
                             torch.zeros_like(index))
    sampled = F.grid_sample(volume[None, None].float(), normalised.flip(-1)[None],
                            mode="bilinear", padding_mode="border", align_corners=True)[0, 0]
    return torch.where(inside, sampled, torch.full_like(sampled, outside))


def to_model_input(volume: Tensor, source: Geometry, spec: ModelSpec) -> Tensor:
    """The network input that ``prepare`` makes of ``volume`` acquired on ``source``.

    Returns ``spec.input_size`` float32 values in [0, 1] on ``volume``'s device.
    """
    grid = model_grid(spec, source)
    sigma = antialias_sigma(source, grid) / np.asarray(source.spacing)
    smoothed = gaussian_smooth(volume, [float(s) for s in sigma])
    outside = float(volume.min()) if spec.outside_value is None else spec.outside_value
    scaled = scale_intensity(resample(smoothed, source, grid, outside), spec)
    out: Tensor = scaled[0] if spec.spatial_dims == 2 else scaled
    return out
