"""LayerCAM (Jiang et al., IEEE TIP 30:5875, 2021)."""

from __future__ import annotations

import torch
from torch import Tensor

from medcam.cam.base import GradientCam

__all__ = ["LayerCam"]


class LayerCam(GradientCam):
    """LayerCAM: element-wise positive-gradient weights.

    Map: ``ReLU(sum_k ReLU(g_k) ⊙ A_k)``. With several target layers the shallow maps are
    rescaled by ``tanh(2·M / max M)`` and fused by element-wise maximum (see
    :meth:`~medcam.cam.base.CamMethod._fuse`), as in the paper's multi-stage version.

    Behind a GAP+linear head it is ``sum_k ReLU(W_ck) A_k / M``, the positive part of CAM:
    re-initialising the head and last block only re-weights non-negative channels, so the
    map barely changes (it fails the B-13 randomisation check; see
    ``tests/cam/test_sanity.py``).
    """

    name = "layercam"
    paper = "Jiang et al., IEEE TIP 30:5875, 2021"
    summary = "Element-wise positive-gradient weights; fuses several layers for detail."

    def layer_map(self, acts: Tensor, grads: Tensor) -> Tensor:
        """``sum_k relu(g_k) ⊙ A_k``."""
        return (torch.relu(grads) * acts).sum(dim=1)
