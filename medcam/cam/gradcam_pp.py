"""Grad-CAM++ (Chattopadhyay et al., WACV 2018, arXiv 1710.11063)."""

from __future__ import annotations

import torch
from torch import Tensor

from medcam.cam.base import GradientCam, weighted_sum

__all__ = ["GradCamPlusPlus"]


class GradCamPlusPlus(GradientCam):
    """Grad-CAM++ with the paper's denominator, summed over every spatial axis.

    Weights: ``w_k = sum_u a_k(u) ReLU(g_k(u))`` with
    ``a_k(u) = g² / (2 g² + [sum_v A_k(v)] · g³)`` (``a = 0`` where ``g = 0``). This is the
    paper's piecewise-linear specialisation; MONAI's GradCAMpp uses ``sum_v A_k(v) g_k(v)³``
    in the denominator instead, pytorch-grad-cam sums only axes (2, 3) (2D-only).

    Behind a GAP+linear head (``g = W_ck / M``) the weights are ``W_ck / (2 + Ā_k W_ck)``
    for ``W_ck > 0`` and 0 otherwise: a positive combination of non-negative channels, so
    the map barely changes when the head and last block are re-initialised (it fails the
    B-13 randomisation check; see ``tests/cam/test_sanity.py``).
    """

    name = "gradcam++"
    paper = "Chattopadhyay et al., WACV 2018, arXiv 1710.11063"
    summary = "Positive-gradient weights with per-voxel second-order coefficients."

    def layer_map(self, acts: Tensor, grads: Tensor) -> Tensor:
        """``sum_k w_k A_k`` with the Grad-CAM++ weights."""
        n, k = acts.shape[:2]
        g = grads.flatten(2)
        total = acts.flatten(2).sum(dim=2, keepdim=True)
        g2 = g * g
        den = 2 * g2 + total * g2 * g
        alpha = torch.where(den != 0, g2 / torch.where(den != 0, den, torch.ones_like(den)),
                            torch.zeros_like(den))
        weights = (alpha * torch.relu(g)).sum(dim=2).reshape(n, k)
        return weighted_sum(weights, acts)
