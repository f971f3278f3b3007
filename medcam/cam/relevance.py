"""LRP relevance rules for FG-CAM (CAM_METHODS.md §4.3), N-d, for Conv/BN/ReLU/Pool chains.

Relevance ``R`` always has the shape of a module's output; a rule returns the relevance of
its input. Rules follow the official FG-CAM code for sequential VGG layers and extend it
to MONAI's residual and dense blocks ([derived], §4.3 "3D"):

* ReLU-like activations, BatchNorm/InstanceNorm, Dropout, Identity: identity.
* Conv (not on the network input): z⁺ split by sign, ``Y1 = conv(X⁺, W⁺)``,
  ``Y2 = conv(X⁻, W⁻)``, ``s = R / (Y1 + Y2)``, ``R_in = X⁺ ⊙ convᵀ(s; W⁺) + X⁻ ⊙ convᵀ(s; W⁻)``.
* Conv on the network input: z^B with the input's global min/max (or given bounds).
* Max/avg/adaptive pooling: z-rule on ``X⁺``.
* ``nn.Sequential``: the rules of its children in reverse.
* MONAI ``_DenseLayer`` (``cat([x, layers(x)])``): relevance sliced by channel, the new
  channels' part sent through ``layers``.
* MONAI ``ResNetBlock``/``ResNetBottleneck``: the final activation is the identity; the
  sum is split between branch and skip in proportion to their positive parts, and each
  part is sent through its own path.
* Anything else: medcam's generic fallback, LRP-0 by gradient-times-input through the module,
  ``R_in = X ⊙ ∂⟨f(X), stopgrad(R / f(X))⟩/∂X``.

Division by zero gives 0 everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Bounds", "propagate", "run"]

#: Lower and upper input bounds for the z^B rule.
Bounds = tuple[Tensor | float, Tensor | float]
_EPS = 1e-9
_CONVS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_IDENTITY = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.SiLU, nn.GELU,
             nn.Mish, nn.Softplus, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
             nn.Identity, nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
          nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
          nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
_BRANCHES = {"ResNetBlock": ("conv1", "bn1", "act", "conv2", "bn2"),
             "ResNetBottleneck": ("conv1", "bn1", "act", "conv2", "bn2", "act", "conv3", "bn3")}


def _div(num: Tensor, den: Tensor) -> Tensor:
    ok = den.abs() > _EPS
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), 0.0)


def run(module: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``module(x)`` without touching ``x`` even if ``module`` has in-place steps."""
    inplace = isinstance(module, nn.Module) and any(
        getattr(m, "inplace", False) for m in module.modules())
    with torch.no_grad():
        return module(x.clone() if inplace else x)


def _lrp(fns: Sequence[Callable[[Tensor], Tensor]], xs: Sequence[Tensor], r: Tensor) -> Tensor:
    """``sum_i X_i ⊙ ∂⟨z, stopgrad(R / z)⟩/∂X_i`` with ``z = sum_i fns[i](X_i)``."""
    leaves = [x.detach().requires_grad_(True) for x in xs]
    with torch.enable_grad():
        # modules may work in place: give them a non-leaf copy
        z = sum((f(x.clone() if isinstance(f, nn.Module) else x)
                 for f, x in zip(fns, leaves, strict=True)), start=torch.zeros(()))
        s = _div(r, z.detach())
        grads = torch.autograd.grad((z * s).sum(), leaves, allow_unused=True)
    return sum((x.detach() * (torch.zeros_like(x) if g is None else g)
                for x, g in zip(leaves, grads, strict=True)), start=torch.zeros(()))


def _conv_rule(m: nn.Module, x: Tensor, r: Tensor, bounds: Bounds | None) -> Tensor:
    conv = _CONVS[x.ndim - 2]
    w = cast(Tensor, m.weight).detach()
    params: dict[str, Any] = {"stride": m.stride, "padding": m.padding,
                              "dilation": m.dilation, "groups": m.groups}

    def with_weight(weight: Tensor) -> Callable[[Tensor], Tensor]:
        return lambda t: conv(t, weight, None, **params)

    wp, wn = w.clamp(min=0), w.clamp(max=0)
    if bounds is None:
        return _lrp([with_weight(wp), with_weight(wn)], [x.clamp(min=0), x.clamp(max=0)], r)
    low, high = (torch.as_tensor(b, dtype=x.dtype, device=x.device).expand_as(x)
                 for b in bounds)
    return _lrp([with_weight(w), lambda t: -with_weight(wp)(t), lambda t: -with_weight(wn)(t)],
                [x, low, high], r)


def _dense_rule(m: nn.Module, x: Tensor, r: Tensor) -> Tensor:
    c = x.shape[1]
    return r[:, :c] + propagate(cast(nn.Module, m.layers), x, r[:, c:])


def _residual_rule(m: nn.Module, x: Tensor, r: Tensor) -> Tensor:
    branch = nn.Sequential(*(getattr(m, n) for n in _BRANCHES[type(m).__name__]))
    b_out = run(branch, x)
    skip = cast(Callable[[Tensor], Tensor] | None, m.downsample)
    s_out = x if skip is None else run(skip, x)
    pos_b, pos_s = b_out.clamp(min=0), s_out.clamp(min=0)
    total = pos_b + pos_s
    r_b, r_s = _div(r * pos_b, total), _div(r * pos_s, total)
    r_x = propagate(branch, x, r_b)
    if skip is None:
        return r_x + r_s
    if isinstance(skip, nn.Module):
        return r_x + propagate(skip, x, r_s)
    return r_x + _lrp([skip], [x], r_s)


def _sequential_rule(seq: nn.Sequential, x: Tensor, r: Tensor, bounds: Bounds | None) -> Tensor:
    inputs, h = [], x
    for m in seq:
        inputs.append(h)
        h = run(m, h)
    for i in range(len(inputs) - 1, -1, -1):
        r = propagate(seq[i], inputs[i], r, bounds if i == 0 else None)
    return r


def _is_conv(m: nn.Module) -> bool:
    return (isinstance(m, nn.Conv1d | nn.Conv2d | nn.Conv3d)
            and m.padding_mode == "zeros")


def propagate(m: nn.Module, x: Tensor, r: Tensor, bounds: Bounds | None = None) -> Tensor:
    """Relevance of ``m``'s input ``x`` given the relevance ``r`` of its output.

    Args:
        m: the module.
        x: its input.
        r: relevance of its output (same shape as ``m(x)``).
        bounds: input bounds when ``x`` is the network input (z^B rule for a first conv).

    """
    name = type(m).__name__
    if _is_conv(m):
        return _conv_rule(m, x, r, bounds)
    if isinstance(m, _IDENTITY) and r.shape == x.shape:
        return r
    if isinstance(m, _POOLS):
        return _lrp([m], [x.clamp(min=0)], r)
    if isinstance(m, nn.Sequential):
        return _sequential_rule(m, x, r, bounds)
    if name == "_DenseLayer" and isinstance(getattr(m, "layers", None), nn.Sequential):
        return _dense_rule(m, x, r)
    if name in _BRANCHES and type(m).__module__.startswith("monai."):
        return _residual_rule(m, x, r)
    return _lrp([m], [x], r)
