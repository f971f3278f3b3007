"""Ablation-CAM (Desai & Ramaswamy, WACV 2020)."""

from __future__ import annotations

from functools import partial
from typing import ClassVar

import torch
from torch import Tensor

from medcam.cam.base import CamMethod, Context, CostClass, weighted_sum

__all__ = ["AblationCam"]

_EPS = 1e-7


class AblationCam(CamMethod):
    """Ablation-CAM: the relative score drop when one channel is zeroed.

    Weights: ``w_k = (y_c - y_c^{(k off)}) / y_c``; map ``ReLU(sum_k w_k A_k)``. The ``K``
    ablations are tail-only passes, ``batch_size`` at a time; for GAP+linear heads the
    closed form ``w_k = W_{c,k} Ā_k / y_c`` (one matrix product) is used instead.
    """

    name = "ablationcam"
    paper = "Desai & Ramaswamy, WACV 2020"
    summary = "Weights from the score drop when each channel is zeroed (tail passes)."
    cost_class: ClassVar[CostClass] = "perturbation"

    def layer_maps(self, ctx: Context) -> list[Tensor]:
        """``sum_k w_k A_k`` with the ablation weights, per sample."""
        acts = ctx.acts
        n, k = acts.shape[:2]
        maps = []
        for i in range(n):
            y = ctx.targets.score(ctx.output[i:i + 1].float(), i)[0]
            if ctx.head is not None:
                pooled = ctx.head.pooled(acts[i:i + 1]).repeat(k, 1)
                pooled.fill_diagonal_(0.0)
                ablated = ctx.head_scores(i, pooled, prob=False)
            else:
                ablated = ctx.tail_scores(i, k, partial(_zeroed, acts[i]), prob=False)
            denom = y if y.abs() > _EPS else y.new_tensor(_EPS)
            maps.append(weighted_sum(((y - ablated) / denom)[None], acts[i:i + 1])[0])
        return [torch.stack(maps)]


def _zeroed(feats: Tensor, start: int, stop: int) -> Tensor:
    """Return copies of ``feats`` ``(K, *s)`` with channel ``start + j`` zeroed in copy ``j``."""
    batch = feats.unsqueeze(0).repeat(stop - start, *[1] * feats.ndim)
    idx = torch.arange(stop - start)
    batch[idx, idx + start] = 0.0
    return batch
