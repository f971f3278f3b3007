"""Target-layer resolution: dotted names, modules, lists, and automatic detection.

Automatic detection picks *the last module whose output is still spatial before global
pooling*: in completion order of one traced forward pass, the last module (not the model
itself) that ran exactly once, returned a tensor with as many dimensions as the input and
is not a global pooling step. Before the first pass a cheap structural guess is used (the
module just before the model's last ``AdaptiveAvg/MaxPool`` with output size 1); the trace
of that first pass confirms or corrects it. For MONAI ``DenseNet`` this gives
``class_layers.relu`` (the in-place ReLU after ``features.norm5``), for ``ResNet`` and
``SENet`` ``layer4``, for ``EfficientNetBN`` ``_bn1`` (``_swish`` is shared, so it runs
more than once and is skipped).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import torch
from torch import nn

from medcam.cam.hooks import Call, Layer
from medcam.errors import TargetLayerError

__all__ = ["LayerSpec", "pick_from_trace", "resolve_layers", "structural_guess"]

#: A target layer given by dotted name or module, or a list of them.
LayerSpec = str | nn.Module | Sequence[str | nn.Module]

_GLOBAL_POOLS = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                 nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)


def is_global_pool(module: nn.Module) -> bool:
    """Whether ``module`` is an adaptive pool to output size 1 on every axis."""
    if not isinstance(module, _GLOBAL_POOLS):
        return False
    size = module.output_size
    sizes = size if isinstance(size, Sequence) else (size,)
    return all(s == 1 for s in sizes)


def _check_hookable(model: nn.Module) -> None:
    if isinstance(model, torch.jit.ScriptModule):
        raise TargetLayerError("TorchScript modules cannot be hooked; load the network as an "
                               "nn.Module (for example from a MONAI spec) to compute CAMs")


def _one(model: nn.Module, spec: str | nn.Module) -> Layer:
    if isinstance(spec, nn.Module):
        for name, module in model.named_modules():
            if module is spec and name:
                return name, module
        raise TargetLayerError("the given target layer module is not a submodule of the model")
    if not isinstance(spec, str) or not spec:
        raise TargetLayerError(f"a target layer must be a dotted name or a module, got {spec!r}")
    try:
        return spec, model.get_submodule(spec)
    except AttributeError:
        names = [n for n, _ in model.named_modules() if n]
        close = difflib.get_close_matches(spec, names, n=5)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise TargetLayerError(f"the model has no layer {spec!r}{hint}") from None


def resolve_layers(model: nn.Module, spec: LayerSpec | None) -> tuple[Layer, ...]:
    """Resolve the caller's target-layer spec (``None`` gives an empty tuple: auto)."""
    _check_hookable(model)
    if spec is None:
        return ()
    specs = [spec] if isinstance(spec, str | nn.Module) else list(spec)
    if not specs:
        raise TargetLayerError("an empty list of target layers was given")
    layers = tuple(_one(model, s) for s in specs)
    if len({name for name, _ in layers}) != len(layers):
        raise TargetLayerError("the same target layer was given twice")
    return layers


def structural_guess(model: nn.Module) -> Layer | None:
    """Return the module registered just before the model's last global pooling module."""
    modules = dict(model.named_modules())
    pools = [name for name, m in modules.items() if name and is_global_pool(m)]
    if not pools:
        return None
    name = pools[-1]
    while name:
        parent_name, _, child = name.rpartition(".")
        siblings = list(modules[parent_name].named_children())
        index = [n for n, _ in siblings].index(child)
        if index > 0:
            prev = siblings[index - 1][0]
            full = f"{parent_name}.{prev}" if parent_name else prev
            return full, modules[full]
        name = parent_name
    return None


def pick_from_trace(calls: Sequence[Call], input_ndim: int) -> Layer | None:
    """Return the last single-run, non-pooling module with a spatial output (see module doc)."""
    counts: dict[str, int] = {}
    for call in calls:
        counts[call.name] = counts.get(call.name, 0) + 1
    best: Layer | None = None
    for call in calls:
        if not call.name or counts[call.name] != 1 or call.out_ndim != input_ndim:
            continue
        pooled = all(s == 1 for s in call.out_spatial) and not all(
            s == 1 for s in call.in_spatial)
        if is_global_pool(call.module) or pooled:
            continue
        best = (call.name, call.module)
    return best
