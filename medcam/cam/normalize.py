"""Volume-wise normalisation of CAM maps.

Maps are scaled per *sample* over the whole volume: one minimum and one maximum for all
voxels of a sample, never per slice, so a faint slice stays faint when a volume is
rendered slice by slice.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["minmax"]

#: Ranges at or below this are treated as a constant map (normalised to zeros).
FLAT_RANGE = 1e-12


def minmax(maps: Tensor) -> Tensor:
    """Scale each sample of ``maps`` to [0, 1] over all of its voxels.

    Args:
        maps: ``(N, *spatial)`` maps; non-finite values are treated as zeros.

    Returns:
        float32 maps of the same shape; a sample whose voxels are all equal becomes zeros.

    """
    flat = torch.nan_to_num(maps.float(), nan=0.0, posinf=0.0, neginf=0.0).flatten(1)
    low = flat.amin(dim=1, keepdim=True)
    span = flat.amax(dim=1, keepdim=True) - low
    flat_sample = span <= FLAT_RANGE
    scaled = (flat - low) / torch.where(flat_sample, torch.ones_like(span), span)
    scaled = torch.where(flat_sample, torch.zeros_like(scaled), scaled)
    return scaled.clamp_(0.0, 1.0).reshape(maps.shape)
