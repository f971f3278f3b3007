"""Upsampling of feature-resolution maps to the input grid (2D and 3D, anisotropic).

Two upsamplers:

* ``"linear"``: bi/trilinear interpolation (``align_corners=False``) to the input size, i.e.
  per-axis scale factors ``input / feature``, computed on the map's device. This is what
  MONAI's ``CAM``/``GradCAM`` do.
* ``"gaussian"``: the Gaussian receptive-field upsampler of Extended-CAM (Kim et al.,
  arXiv 2001.05153). The paper's equations were not recovered; medcam implements the
  [derived] form of CAM_METHODS.md §4.6: every feature cell ``p`` is an impulse at its
  receptive-field centre ``c_p = (stride - 1) / 2 + stride * p`` (per axis, input voxel
  units), the impulses are convolved with a separable Gaussian of standard deviation
  ``sigma`` (per axis, default: the stride of that axis) and the result is divided by the
  same convolution of the impulse grid of ones. The convolution is evaluated exactly (no
  kernel truncation) as one small matrix product per axis, so non-integer and anisotropic
  strides need no special case.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from medcam.errors import CamError

__all__ = ["UpsampleMode", "gaussian_blur", "gaussian_upsample", "linear_upsample", "upsample"]

UpsampleMode = Literal["linear", "gaussian"]
_LINEAR_MODES = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _per_axis(value: float | Sequence[float], ndim: int, what: str) -> tuple[float, ...]:
    values = (float(value),) * ndim if isinstance(value, int | float) else tuple(map(float, value))
    if len(values) != ndim or not all(math.isfinite(v) and v > 0 for v in values):
        raise CamError(f"`{what}` must be one positive number or {ndim} of them, got {value!r}")
    return values


def linear_upsample(maps: Tensor, size: Sequence[int]) -> Tensor:
    """Linear interpolation of ``(N, *feature)`` maps to ``(N, *size)``."""
    if tuple(maps.shape[1:]) == tuple(size):
        return maps
    mode = _LINEAR_MODES[len(size)]
    return F.interpolate(maps[:, None], size=tuple(size), mode=mode, align_corners=False)[:, 0]


def _axis_weights(n_in: int, n_feat: int, sigma: float, device: torch.device) -> Tensor:
    """``(n_in, n_feat)`` Gaussian weights between input voxels and feature-cell centres."""
    stride = n_in / n_feat
    centres = (stride - 1) / 2 + stride * torch.arange(n_feat, device=device, dtype=torch.float64)
    grid = torch.arange(n_in, device=device, dtype=torch.float64)
    return torch.exp(-0.5 * ((grid[:, None] - centres[None, :]) / sigma) ** 2)


def _separable(maps: Tensor, weights: Sequence[Tensor]) -> Tensor:
    out = maps.double()
    for axis, w in enumerate(weights, start=1):
        out = torch.movedim(torch.tensordot(out, w, dims=([axis], [1])), -1, axis)
    return out


def gaussian_upsample(maps: Tensor, size: Sequence[int],
                      sigma: float | Sequence[float] | None = None) -> Tensor:
    """Extended-CAM style Gaussian upsampling of ``(N, *feature)`` maps to ``(N, *size)``.

    Args:
        maps: maps at feature resolution.
        size: the input grid.
        sigma: Gaussian standard deviation in input voxels, one value or one per axis;
            default: the stride (input / feature size) of each axis.

    Returns:
        ``(N, *size)`` maps, float32.

    """
    feat = maps.shape[1:]
    if len(feat) != len(size):
        raise CamError(f"cannot upsample a {len(feat)}-d map to a {len(size)}-d grid")
    strides = [s / f for s, f in zip(size, feat, strict=True)]
    sigmas = _per_axis(strides if sigma is None else sigma, len(size), "sigma")
    weights = [_axis_weights(s, f, sg, maps.device)
               for s, f, sg in zip(size, feat, sigmas, strict=True)]
    num = _separable(maps, weights)
    den = _separable(torch.ones_like(maps[:1]), weights)
    return (num / den.clamp_min(1e-300)).float()


def gaussian_blur(x: Tensor, sigma: float | Sequence[float]) -> Tensor:
    """Separable Gaussian blur of ``(N, C, *spatial)`` with reflect-free, normalised edges."""
    spatial = x.shape[2:]
    sigmas = _per_axis(sigma, len(spatial), "blur sigma")
    out = x.double()
    for axis, (n, sg) in enumerate(zip(spatial, sigmas, strict=True), start=2):
        grid = torch.arange(n, device=x.device, dtype=torch.float64)
        w = torch.exp(-0.5 * ((grid[:, None] - grid[None, :]) / sg) ** 2)
        w = w / w.sum(dim=1, keepdim=True)
        out = torch.movedim(torch.tensordot(out, w, dims=([axis], [1])), -1, axis)
    return out.to(x.dtype)


def upsample(maps: Tensor, size: Sequence[int], mode: UpsampleMode = "linear",
             sigma: float | Sequence[float] | None = None) -> Tensor:
    """Upsample ``(N, *feature)`` maps to ``(N, *size)`` with the chosen upsampler."""
    if mode == "linear":
        return linear_upsample(maps.float(), size)
    if mode == "gaussian":
        return gaussian_upsample(maps, size, sigma)
    raise CamError(f"unknown upsample mode {mode!r}: use 'linear' or 'gaussian'")
