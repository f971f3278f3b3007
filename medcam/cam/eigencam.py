"""Eigen-CAM (Bany Muhammad & Yeasin, IJCNN 2020, arXiv 2008.00299)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from medcam.cam.base import CamMethod, Context, CostClass

__all__ = ["EigenCam"]

#: Above this many matrix entries (M x K) a randomised SVD replaces the economy SVD.
LOWRANK_ENTRIES = 1 << 22


def first_component(mat: Tensor) -> Tensor:
    """First right singular vector of an ``(M, K)`` matrix, never forming an M x M matrix."""
    if mat.numel() <= LOWRANK_ENTRIES:
        vh: Tensor = torch.linalg.svd(mat, full_matrices=False).Vh
        return vh[0]
    with torch.random.fork_rng(devices=[mat.device] if mat.is_cuda else []):
        torch.manual_seed(0)
        _, _, v = torch.svd_lowrank(mat, q=min(6, *mat.shape), niter=4)
    return v[:, 0]


class EigenCam(CamMethod):
    """Eigen-CAM: projection on the first principal component (class-agnostic).

    Map: ``A·v1`` with ``A`` the ``(M x K)`` centred activation matrix and ``v1`` its first
    right singular vector; the sign is flipped when ``|min| > |max|`` (the Seg-Eigen-CAM
    correction). ``target`` is recorded but does not change the map.
    """

    name = "eigencam"
    paper = "Bany Muhammad & Yeasin, IJCNN 2020, arXiv 2008.00299"
    summary = "First principal component of the features; class-agnostic."
    cost_class: ClassVar[CostClass] = "gradient-free"

    def layer_maps(self, ctx: Context) -> list[Tensor]:
        """Return the first-component projection per sample."""
        n, _, *spatial = ctx.acts.shape
        maps = []
        for mat in ctx.acts.flatten(2).transpose(1, 2):
            centred = mat - mat.mean(dim=0, keepdim=True)
            proj = centred @ first_component(centred)
            maps.append(-proj if proj.min().abs() > proj.max().abs() else proj)
        return [torch.stack(maps).reshape(n, *spatial)]
