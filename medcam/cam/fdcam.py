"""FD-CAM (Li, Li, Ma, Wu, arXiv 2206.08792)."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Unpack

import torch
from torch import Tensor, nn

from medcam.cam.base import BaseOptions, CamMethod, Context, CostClass, weighted_sum
from medcam.cam.layers import LayerSpec
from medcam.errors import CamError

__all__ = ["FdCam", "channel_groups"]


def _minmax(v: Tensor) -> Tensor:
    span = v.max() - v.min()
    return (v - v.min()) / span if span > 0 else torch.zeros_like(v)


def channel_groups(feats: Tensor, quantile: float) -> Tensor:
    """Return the FD-CAM channel groups as a ``(K, K)`` bool matrix.

    ``G[k, j]`` holds when the cosine similarity of channels ``k, j`` exceeds the
    ``quantile`` of row ``k`` (undefined similarities are 0).
    """
    rows = feats.flatten(1)
    unit = rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)
    sim = unit @ unit.T
    groups: Tensor = sim > torch.quantile(sim, quantile, dim=1, keepdim=True)
    return groups


def _switched(feats: Tensor, keep: Tensor) -> Callable[[int, int], Tensor]:
    """Return ``make(a, b)``: copies ``a:b`` of ``feats`` ``(K, *s)`` masked by rows of ``keep``."""
    shape = [-1, feats.shape[0]] + [1] * (feats.ndim - 1)
    return lambda a, b: feats[None] * keep[a:b].reshape(shape)


class FdCam(CamMethod):
    """FD-CAM: grouped channel switching combined with Grad-CAM weights (official fdcam.py).

    Weights: ``w_k = exp(mm(s)_k) · mm(ĝ)_k - 0.5`` with ``s_k = on_k + (y - off_k)``,
    ``on_k``/``off_k`` the target logit when only / all but the group ``G_k`` of channels
    most similar to ``k`` (cosine above the row's ``quantile``) is kept, ``ĝ`` the Grad-CAM
    weights and ``mm`` min-max across channels; map ``ReLU(sum_k w_k A_k)``. The ``2K``
    switched maps are tail-only passes, ``batch_size`` at a time; for GAP+linear heads the
    closed form ``s_k = 2 sum_{j∈G_k} W_{c,j} Ā_j + b_c`` is used. Any batch size (the
    official code assumes 1).

    Args:
        quantile: the similarity quantile defining the groups (paper: 0.95).

    """

    name = "fdcam"
    paper = "Li et al., arXiv 2206.08792"
    summary = "Grouped channel switching on/off combined with Grad-CAM weights."
    cost_class: ClassVar[CostClass] = "perturbation"
    needs_grad: ClassVar[bool] = True

    def __init__(self, model: nn.Module, target_layer: LayerSpec | None = None, *,
                 quantile: float = 0.95, **options: Unpack[BaseOptions]) -> None:
        super().__init__(model, target_layer, **options)
        if not 0.0 <= quantile < 1.0:
            raise CamError(f"quantile must lie in [0, 1), got {quantile!r}")
        self.quantile = quantile

    def options(self) -> dict[str, object]:
        """Return the base options plus the quantile."""
        return {**super().options(), "quantile": self.quantile}

    def layer_maps(self, ctx: Context) -> list[Tensor]:
        """``sum_k w_k A_k`` with the FD-CAM weights, per sample."""
        acts, ghat = ctx.acts, ctx.grads.flatten(2).mean(dim=2)
        k = acts.shape[1]
        maps = []
        for i in range(acts.shape[0]):
            groups = channel_groups(acts[i], self.quantile).to(acts.dtype)
            y = ctx.targets.score(ctx.output[i:i + 1].float(), i)[0]
            if ctx.head is not None:
                pooled = ctx.head.pooled(acts[i:i + 1])
                on = ctx.head_scores(i, pooled * groups, prob=False)
                off = ctx.head_scores(i, pooled * (1 - groups), prob=False)
            else:
                on = ctx.tail_scores(i, k, _switched(acts[i], groups), prob=False)
                off = ctx.tail_scores(i, k, _switched(acts[i], 1 - groups), prob=False)
            weights = torch.exp(_minmax(on + (y - off))) * _minmax(ghat[i]) - 0.5
            maps.append(weighted_sum(weights[None], acts[i:i + 1])[0])
        return [torch.stack(maps)]
