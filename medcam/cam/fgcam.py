"""FG-CAM (Qiu, Jin, Zhang, arXiv 2303.09171; AAAI 2024) with medcam's 3D/residual rules."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import ClassVar, Unpack

import torch
from torch import Tensor, nn

from medcam.cam.base import BaseOptions, CamMethod, Context, CostClass
from medcam.cam.hooks import Call, Layer, input_relevance, record_chain
from medcam.cam.layers import LayerSpec
from medcam.cam.relevance import Bounds, propagate
from medcam.errors import CamError

__all__ = ["FgCam", "chain_elements"]


def chain_elements(model: nn.Module, calls: Sequence[Call]) -> list[Layer]:
    """Return the model's main path as a flat list of modules.

    Top-level modules in the order they ran (each once), every ``nn.Sequential`` expanded
    into its children.
    """
    counts = Counter(c.name for c in calls)
    if isinstance(model, nn.Sequential):
        top = list(model.named_children())
    else:
        children = {name for name, _ in model.named_children()}
        top = [(c.name, c.module) for c in calls if c.name in children and counts[c.name] == 1]
    out: list[Layer] = []

    def expand(name: str, module: nn.Module) -> None:
        if isinstance(module, nn.Sequential):
            for child, sub in module.named_children():
                expand(f"{name}.{child}", sub)
        else:
            out.append((name, module))
    for name, module in top:
        expand(name, module)
    return out


def _boundary(chain: list[Layer], name: str) -> int | None:
    """Index just after the last chain element belonging to ``name`` (None: not on it)."""
    hits = [i for i, (n, _) in enumerate(chain) if n == name or n.startswith(name + ".")]
    return hits[-1] + 1 if hits else None


def _denoise(rel: Tensor) -> Tensor:
    """FG-CAM denoising: centre the rows of ``(K, M)``, keep the top 10% singular triplets."""
    n, k, *spatial = rel.shape
    out = []
    for mat in rel.flatten(2):
        mat = mat - mat.mean(dim=1, keepdim=True)
        d = max(1, int(0.1 * min(mat.shape)))
        u, s, vh = torch.linalg.svd(mat, full_matrices=False)
        out.append((u[:, :d] * s[:d]) @ vh[:d])
    return torch.stack(out).reshape(n, k, *spatial)


class FgCam(CamMethod):
    """FG-CAM: Grad-CAM explanation components propagated to a finer layer by LRP rules.

    Components ``R = w ⊙ A_L`` (Grad-CAM weights ``w_k = mean_u g_k(u)``, broadcast, not
    summed over channels), optionally denoised, are propagated back from the target layer
    ``L`` to a finer layer ``E`` with the rules of :mod:`medcam.cam.relevance`; the map is
    ``ReLU(sum_k R_E,k)``. Follows the paper/official code: the components, the denoising,
    the Conv (z⁺ / z^B), BN/ReLU (identity) and pooling rules. medcam's choices: the
    rules for MONAI residual and dense blocks, the generic gradient-times-input fallback
    for any other module, gradient-times-input at the network input when the layers
    before ``L`` are not a sequential chain of modules (e.g. functional code in
    ``forward``), and the choice of ``E`` (the boundary nearest to ``L`` on the model's
    main path whose grid has ``scale^d`` times more voxels, else the network input).

    Args:
        fg_layer: dotted name of ``E`` or ``"input"`` (default: automatic, see above).
        scale: resolution gain per axis sought by the automatic choice (default 4).
        denoise: apply the paper's SVD denoising to the components (default off).
        input_bounds: (low, high) for the z^B rule at the input (default: the sample's
            min and max).

    """

    name = "fgcam"
    paper = "Qiu, Jin & Zhang, AAAI 2024, arXiv 2303.09171"
    summary = "Grad-CAM components refined to a finer layer by LRP relevance rules."
    cost_class: ClassVar[CostClass] = "gradient"
    needs_grad: ClassVar[bool] = True

    def __init__(self, model: nn.Module, target_layer: LayerSpec | None = None, *,
                 fg_layer: str | None = None, scale: float = 4.0, denoise: bool = False,
                 input_bounds: tuple[float, float] | None = None,
                 **options: Unpack[BaseOptions]) -> None:
        super().__init__(model, target_layer, **options)
        if scale < 1:
            raise CamError(f"scale must be >= 1, got {scale!r}")
        self.fg_layer, self.scale, self.denoise = fg_layer, scale, denoise
        self.input_bounds = input_bounds

    def options(self) -> dict[str, object]:
        """Return the base options plus the propagation settings."""
        return {**super().options(), "fg_layer": self.fg_layer, "scale": self.scale,
                "denoise": self.denoise, "input_bounds": self.input_bounds}

    def _start(self, ctx: Context, chain: list[Layer], end: int) -> int:
        if self.fg_layer == "input":
            return 0
        if self.fg_layer is not None:
            start = _boundary(chain, self.fg_layer)
            if start is None or start >= end:
                raise CamError(f"fg_layer {self.fg_layer!r} is not on the model's main path "
                               "before the target layer")
            return start
        shapes = {c.name: c.out_spatial for c in ctx.calls}
        goal = math.prod(ctx.acts.shape[2:]) * self.scale ** (ctx.x.ndim - 2)
        for b in range(end - 1, 0, -1):
            if math.prod(shapes.get(chain[b - 1][0], ())) >= goal:
                return b
        return 0

    def _bounds(self, x: Tensor) -> Bounds:
        """z^B bounds: the given ones, or each sample's min and max."""
        if self.input_bounds is not None:
            return self.input_bounds
        flat = x.flatten(1).float()
        shape = (-1, *[1] * (x.ndim - 1))
        return flat.amin(dim=1).reshape(shape), flat.amax(dim=1).reshape(shape)

    def layer_maps(self, ctx: Context) -> list[Tensor]:
        """``sum_k R_E,k`` per sample at the resolution of ``E``."""
        acts = ctx.acts
        rel = ctx.grads.flatten(2).mean(dim=2).reshape(*acts.shape[:2], *[1] * (acts.ndim - 2))
        rel = rel * acts
        if self.denoise:
            rel = _denoise(rel)
        chain = chain_elements(self.model, ctx.calls)
        end = _boundary(chain, ctx.layers[0][0])
        inputs: list[Tensor] | None = None
        if end is not None:
            start = self._start(ctx, chain, end)
            try:
                inputs = record_chain(self.model, ctx.x, chain, start, end)
            except CamError:
                inputs = None
        if inputs is None or end is None:
            if self.fg_layer not in (None, "input"):
                raise CamError(f"FG-CAM: no sequential path from {self.fg_layer!r} to the "
                               f"target layer {ctx.layers[0][0]!r}")
            return [input_relevance(self.model, ctx.x, ctx.layers[0], rel).sum(dim=1)]
        bounds = self._bounds(ctx.x) if start == 0 else None
        for j in range(end - 1, start - 1, -1):
            rel = propagate(chain[j][1], inputs[j - start].float(), rel,
                            bounds if j == 0 else None)
        return [rel.sum(dim=1)]
