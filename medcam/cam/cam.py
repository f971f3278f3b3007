"""CAM (Zhou et al., CVPR 2016, arXiv 1512.04150)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from medcam.cam.base import CamMethod, Context, CostClass, weighted_sum
from medcam.errors import CamError

__all__ = ["Cam"]


class Cam(CamMethod):
    """Class activation mapping for GAP + linear heads.

    Map: ``M_c(u) = sum_k W_{c,k} A_k(u)``, with ``A`` the features entering the global
    average pool (after the head's ReLU, if any) and ``W`` the linear layer's weights; the
    bias is a constant shift and is left out. Needs a (ReLU ->) GAP -> Linear tail right
    after the target layer (MONAI DenseNet, ResNet, SENet), found and verified numerically.
    """

    name = "cam"
    paper = "Zhou et al., CVPR 2016, arXiv 1512.04150"
    summary = "Linear-layer weights applied to the last features; needs a GAP+linear head."
    cost_class: ClassVar[CostClass] = "gradient-free"

    def layer_maps(self, ctx: Context) -> list[Tensor]:
        """``sum_k W_{c,k} A_k`` per sample."""
        head = ctx.head
        if head is None:
            raise CamError("CAM needs a global-average-pool + linear head right after the "
                           f"target layer {ctx.layers[0][0]!r}; use 'gradcam' for other models")
        if ctx.targets.fn is not None:
            raise CamError("CAM explains class indices; callable targets need a gradient or "
                           "perturbation method")
        classes = torch.tensor(ctx.targets.classes, device=head.weight.device)
        return [weighted_sum(head.weight[classes], head.features(ctx.acts))]
