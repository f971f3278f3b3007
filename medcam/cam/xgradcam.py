"""XGrad-CAM (Fu et al., BMVC 2020, arXiv 2008.02312)."""

from __future__ import annotations

from torch import Tensor

from medcam.cam.base import GradientCam, weighted_sum

__all__ = ["XGradCam"]

_EPS = 1e-7


class XGradCam(GradientCam):
    """XGrad-CAM: gradients weighted by the normalised activations.

    Weights: ``w_k = sum_u [A_k(u) / sum_v A_k(v)] · g_k(u)``; map ``ReLU(sum_k w_k A_k)``.
    The sums run over every spatial axis (pytorch-grad-cam's version sums axes (2, 3) only
    and is therefore 2D-only).
    """

    name = "xgradcam"
    paper = "Fu et al., BMVC 2020, arXiv 2008.02312"
    summary = "Gradients weighted by normalised activations (axiom-based)."

    def layer_map(self, acts: Tensor, grads: Tensor) -> Tensor:
        """``sum_k w_k A_k`` with the XGrad-CAM weights."""
        a, g = acts.flatten(2), grads.flatten(2)
        weights = (a * g).sum(dim=2) / (a.sum(dim=2) + _EPS)
        return weighted_sum(weights, acts)
