"""Grad-CAM (Selvaraju et al., ICCV 2017, arXiv 1610.02391)."""

from __future__ import annotations

from torch import Tensor

from medcam.cam.base import GradientCam, weighted_sum

__all__ = ["GradCam"]


class GradCam(GradientCam):
    """Grad-CAM: channel weights are the spatially averaged gradients.

    Weights: ``alpha_k = mean_u dy_c/dA_k(u)``; map ``ReLU(sum_k alpha_k A_k)``. The mean
    runs over every spatial axis (2D and 3D alike). For GAP+linear heads it equals CAM / M.
    """

    name = "gradcam"
    paper = "Selvaraju et al., ICCV 2017, arXiv 1610.02391"
    summary = "Channel weights = spatially averaged gradients of the class score."

    def layer_map(self, acts: Tensor, grads: Tensor) -> Tensor:
        """``sum_k mean_u(g_k) A_k``."""
        return weighted_sum(grads.flatten(2).mean(dim=2), acts)
