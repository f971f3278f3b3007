"""Recipro-CAM (Byun & Lee, arXiv 2209.14074; CVPR-W XAI4CV 2024 as ReciproCAM)."""

from __future__ import annotations

import math
from typing import ClassVar, Literal, Unpack

import torch
from torch import Tensor, nn

from medcam.cam.base import BaseOptions, CamMethod, Context, CostClass
from medcam.cam.layers import LayerSpec
from medcam.errors import CamError

__all__ = ["ReciproCam", "position_masks"]

Variant = Literal["plain", "gaussian"]
#: 1-D binomial kernel of the official Gaussian variant: centre 1/2, neighbours 1/4.
_CENTRE, _SIDE = 0.5, 0.25


def _axis_weights(pos: Tensor, n: int, variant: Variant) -> Tensor:
    """``(B, n)`` weights of the 1-D kernel centred at each of ``pos``, borders truncated."""
    dist = (torch.arange(n, device=pos.device)[None, :] - pos[:, None]).abs()
    if variant == "plain":
        return (dist == 0).float()
    return torch.where(dist == 0, _CENTRE, torch.where(dist == 1, _SIDE, 0.0))


def position_masks(shape: tuple[int, ...], start: int, stop: int, variant: Variant,
                   device: torch.device) -> Tensor:
    """Spatial masks ``(stop - start, *shape)`` for flat positions ``start:stop``.

    ``plain``: the one-hot mask of the position. ``gaussian``: the N-d outer product of
    ``[1/4, 1/2, 1/4]`` centred on the position (centre 1/4 in 2D, 1/8 in 3D), truncated at
    the border and not renormalised, as in the official code.
    """
    flat = torch.arange(start, stop, device=device)
    coords = []
    for n in reversed(shape):  # torch.unravel_index's first call imports far too much
        coords.append(flat % n)
        flat = torch.div(flat, n, rounding_mode="floor")
    coords.reverse()
    mask = torch.ones(stop - start, *[1] * len(shape), device=device)
    for axis, (pos, n) in enumerate(zip(coords, shape, strict=True)):
        w = _axis_weights(pos, n, variant)
        view = [stop - start] + [1] * len(shape)
        view[axis + 1] = n
        mask = mask * w.reshape(view)
    return mask


class ReciproCam(CamMethod):
    """Recipro-CAM: the class probability of spatially masked feature maps.

    Map: ``S(p) = softmax(h(F_p))_c`` with ``F_p`` the target-layer features kept only at
    position ``p`` (``variant="plain"``) or the official code's Gaussian spreading of the
    feature vector ``F(:, p)`` over the 3^d neighbourhood (``variant="gaussian"``, default);
    ``h`` is the tail after the target layer. All ``|Ω|`` masked maps run through the tail
    in batches; for GAP+linear heads the closed form
    ``softmax(W · F(:, p) · mass(p) / M + b)_c`` needs no extra pass. Gradient-free, works
    inside ``torch.inference_mode()``.

    Args:
        variant: ``"gaussian"`` (default) or ``"plain"``.

    """

    name = "recipro"
    paper = "Byun & Lee, arXiv 2209.14074 (CVPR-W 2024)"
    summary = "Class probability of spatially masked features; fast, gradient-free."
    cost_class: ClassVar[CostClass] = "gradient-free"

    def __init__(self, model: nn.Module, target_layer: LayerSpec | None = None, *,
                 variant: Variant = "gaussian", **options: Unpack[BaseOptions]) -> None:
        super().__init__(model, target_layer, **options)
        if variant not in ("plain", "gaussian"):
            raise CamError(f"Recipro-CAM variant must be 'plain' or 'gaussian', not {variant!r}")
        self.variant: Variant = variant

    def options(self) -> dict[str, object]:
        """Return the base options plus the variant."""
        return {**super().options(), "variant": self.variant}

    def layer_maps(self, ctx: Context) -> list[Tensor]:
        """``S(p)`` per sample at feature resolution."""
        acts = ctx.acts
        n, k, *spatial = acts.shape
        shape, m = tuple(spatial), math.prod(spatial)
        maps = []
        for i in range(n):
            if ctx.head is not None:
                masks = position_masks(shape, 0, m, self.variant, acts.device)
                pooled = ctx.head.features(acts[i]).flatten(1).T * masks.flatten(1).sum(1)[:, None]
                scores = ctx.head_scores(i, pooled / m, prob=True)
            else:
                flat = acts[i].flatten(1)

                def make(a: int, b: int, flat: Tensor = flat) -> Tensor:
                    masks = position_masks(shape, a, b, self.variant, flat.device)
                    return masks[:, None] * flat[:, a:b].T.reshape(b - a, k, *[1] * len(shape))
                scores = ctx.tail_scores(i, m, make, prob=True)
            maps.append(scores.reshape(shape))
        return [torch.stack(maps)]
