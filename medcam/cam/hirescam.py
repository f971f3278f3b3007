"""HiResCAM (Draelos & Carin, arXiv 2011.08891, 2020)."""

from __future__ import annotations

from torch import Tensor

from medcam.cam.base import GradientCam

__all__ = ["HiResCam"]


class HiResCam(GradientCam):
    """HiResCAM: gradients multiply activations element-wise, no spatial averaging.

    Map: ``sum_k g_k ⊙ A_k`` (then the optional ReLU). Its spatial sum reproduces the
    gradient·activation contribution to the score; for GAP+linear heads it equals CAM / M.
    """

    name = "hirescam"
    paper = "Draelos & Carin, arXiv 2011.08891"
    summary = "Gradient times activation per voxel, no averaging; faithful for GAP heads."

    def layer_map(self, acts: Tensor, grads: Tensor) -> Tensor:
        """``sum_k g_k ⊙ A_k``."""
        return (grads * acts).sum(dim=1)
