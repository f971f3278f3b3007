"""Hook lifecycle: run a model with its state guarded and target-layer outputs captured.

Everything registered here is removed in ``finally`` blocks; :func:`model_guard` puts the
model in eval mode with every parameter's ``requires_grad`` off, and restores every
module's ``training`` flag and every parameter's ``.grad`` and ``requires_grad`` exactly
as found, also when the model raises.

Gradient capture costs about one forward pass: the forward runs under ``no_grad`` until
the first target layer, whose output is replaced by a detached leaf ``a`` (``a * 1`` goes
downstream, so in-place ops after it still work); grad mode is switched on from there, so
only the tail after the target layer is recorded, and :func:`torch.autograd.grad` later
differentiates the score with respect to ``a`` alone; with ``requires_grad`` off
(:func:`model_guard`) the tail has no parameter leaves, so no parameter gradient exists.
``bench/cam_memory.py`` measures the peak memory against a no-grad forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from medcam.errors import CamError, TargetLayerError

__all__ = ["Call", "Capture", "Layer", "capture", "hooks_removed", "input_relevance",
           "model_guard", "record_chain", "substitute_forward"]

#: A target layer: its dotted name in the model and the module.
Layer = tuple[str, nn.Module]
#: Signatures of forward hooks and forward pre-hooks as PyTorch calls them.
ForwardHook = Callable[[nn.Module, tuple[Any, ...], Any], Any]
PreHook = Callable[[nn.Module, tuple[Any, ...]], Any]


@contextmanager
def model_guard(model: nn.Module) -> Iterator[None]:
    """Run in eval mode without parameter gradients; restore flags and ``.grad`` after."""
    training = [(m, m.training) for m in model.modules()]
    params = list(model.parameters())
    state = [(p, p.grad, p.requires_grad) for p in params]
    model.eval()
    try:
        for p in params:
            p.requires_grad_(False)
        yield
    finally:
        for module, flag in training:
            module.training = flag
        for p, grad, requires in state:
            if p.requires_grad != requires:
                p.requires_grad_(requires)
            if p.grad is not grad:
                p.grad = grad


@contextmanager
def hooks_removed(handles: list[RemovableHandle]) -> Iterator[list[RemovableHandle]]:
    """Yield ``handles`` (filled by the caller) and remove every one of them afterwards."""
    try:
        yield handles
    finally:
        for handle in handles:
            handle.remove()


@dataclass(frozen=True)
class Call:
    """One completed module call, recorded by the tracer (in completion order)."""

    name: str
    module: nn.Module
    leaf: bool
    out_ndim: int
    out_spatial: tuple[int, ...]
    in_spatial: tuple[int, ...]


@dataclass
class Capture:
    """What one hooked forward pass produced.

    Attributes:
        output: the model output (with a graph from the first target layer on, if ``grad``).
        activations: per target layer (in the order given), its output.
        gradients: per target layer, d(score)/d(output) once :meth:`backward` has run.
        order: indices of the target layers in the order they ran (shallow first).
        calls: the tracer's records, when tracing was asked for.

    """

    output: Tensor
    activations: list[Tensor]
    order: list[int]
    calls: list[Call] = field(default_factory=list)
    gradients: list[Tensor] = field(default_factory=list)

    def backward(self, score: Tensor) -> None:
        """Fill :attr:`gradients` with d(score.sum())/d(activation) per layer.

        Raises:
            CamError: the score does not depend on any target layer.

        """
        if not score.requires_grad:
            raise CamError("the target score does not depend on the target layer(s); check "
                           "the target callable and the layer")
        grads = torch.autograd.grad(score.sum(), self.activations, allow_unused=True)
        self.gradients = [torch.zeros_like(a) if g is None else g.detach()
                          for a, g in zip(self.activations, grads, strict=True)]
        self.activations = [a.detach() for a in self.activations]


def _spatial(t: object) -> tuple[int, ...]:
    return tuple(t.shape[2:]) if isinstance(t, Tensor) else ()


def _tracer(calls: list[Call], name: str, module: nn.Module) -> ForwardHook:
    leaf = next(module.children(), None) is None

    def hook(_m: nn.Module, inputs: tuple[object, ...], out: object) -> None:
        first = inputs[0] if inputs else None
        calls.append(Call(name, module, leaf, out.ndim if isinstance(out, Tensor) else -1,
                          _spatial(out), _spatial(first)))
    return hook


def capture(model: nn.Module, x: Tensor, layers: Sequence[Layer], *, grad: bool,
            trace: bool = False) -> Capture:
    """Run ``model(x)`` once, capturing the outputs of ``layers``.

    Args:
        model: the network (already in eval mode, see :func:`model_guard`).
        x: the input batch.
        layers: target layers; each must run exactly once per forward pass.
        grad: record the graph after the first target layer (see module docstring).
        trace: also record every module call (names, shapes) for layer auto-detection.

    Raises:
        TargetLayerError: a target layer did not run, ran twice or returned no tensor.

    """
    acts: dict[int, Tensor] = {}
    order: list[int] = []
    calls: list[Call] = []

    def make_hook(i: int, name: str) -> ForwardHook:
        def hook(_m: nn.Module, _inputs: tuple[object, ...], out: object) -> Tensor:
            if not isinstance(out, Tensor):
                raise TargetLayerError(f"target layer {name!r} does not return a tensor")
            if i in acts:
                raise TargetLayerError(f"target layer {name!r} ran more than once in one "
                                       "forward pass (a shared module); pick a module that "
                                       "runs once")
            order.append(i)
            if not grad:
                acts[i] = out
                return out.clone()  # keep the capture safe from in-place ops downstream
            torch.set_grad_enabled(True)  # undone by the enclosing no_grad's __exit__
            if not out.requires_grad:  # the first target layer (or an independent branch)
                out = out.detach().requires_grad_(True)
            acts[i] = out
            return out * 1
        return hook

    handles: list[RemovableHandle] = []
    with hooks_removed(handles), torch.no_grad():
        for i, (name, module) in enumerate(layers):
            handles.append(module.register_forward_hook(make_hook(i, name)))
        if trace:
            for name, module in model.named_modules():
                handles.append(module.register_forward_hook(_tracer(calls, name, module)))
        output = model(x)
    missing = [name for i, (name, _) in enumerate(layers) if i not in acts]
    if missing:
        raise TargetLayerError(f"target layer {missing[0]!r} did not run in the forward pass")
    return Capture(_tensor(output), [acts[i] for i in range(len(layers))], order, calls)


def _tensor(output: object) -> Tensor:
    if not isinstance(output, Tensor):
        raise CamError(f"the model returned {type(output).__name__}; medcam needs a tensor")
    return output


def substitute_forward(model: nn.Module, x: Tensor, layer: Layer, feats: Tensor) -> Tensor:
    """Model output when ``layer``'s output is replaced by the batch ``feats``.

    ``x`` is one sample; the layers before ``layer`` run on it once and only the tail sees
    the ``B`` substituted feature maps. If the tail also uses tensors from before the
    layer (a skip connection) the batch sizes clash; the pass is then repeated with ``x``
    expanded to ``B`` copies (correct, but ``B`` times the cost).
    """
    name, module = layer

    def hook(_m: nn.Module, _inputs: tuple[object, ...], out: object) -> Tensor:
        if not isinstance(out, Tensor) or out.shape[1:] != feats.shape[1:]:
            raise TargetLayerError(f"substituted features do not fit layer {name!r}")
        return feats.to(out.dtype)

    def run(batch: Tensor) -> Tensor:
        handles: list[RemovableHandle] = []
        with hooks_removed(handles), torch.no_grad():
            handles.append(module.register_forward_hook(hook))
            return _tensor(model(batch))

    try:
        return run(x)
    except RuntimeError:
        if feats.shape[0] == 1:
            raise
    return run(x.expand(feats.shape[0], *x.shape[1:]))


class _Stop(Exception):
    """Raised inside a hook to end a forward pass early."""


def record_chain(model: nn.Module, x: Tensor, chain: Sequence[Layer], start: int,
                 end: int) -> list[Tensor]:
    """Record the inputs of ``chain[start:end]`` in one forward pass ending after ``end - 1``.

    Checks that the elements form a chain: each one receives exactly the output of the one
    before (the first one, ``x`` when ``start == 0``).

    Raises:
        CamError: the elements do not form a chain in this model's forward pass.

    """
    inputs: dict[int, Tensor] = {}
    prev: list[object] = [x if start == 0 else None]
    broken: list[str] = []

    def pre(j: int) -> PreHook:
        def hook(_m: nn.Module, args: tuple[object, ...]) -> None:
            t, expected = (args[0] if args else None), prev[0]
            same = isinstance(t, Tensor) and isinstance(expected, Tensor) and (
                t is expected or (t.shape == expected.shape and torch.equal(t, expected)))
            if not same or j in inputs:
                broken.append(chain[j][0])
            if isinstance(t, Tensor):
                inputs[j] = t.clone()
        return hook

    def post(j: int) -> ForwardHook:
        def hook(_m: nn.Module, _args: tuple[object, ...], out: object) -> None:
            prev[0] = out
            if j == end - 1:
                raise _Stop
        return hook

    handles: list[RemovableHandle] = []
    with hooks_removed(handles), torch.no_grad():
        for j in range(start, end):
            handles.append(chain[j][1].register_forward_pre_hook(pre(j)))
        for j in range(max(start - 1, 0), end):
            handles.append(chain[j][1].register_forward_hook(post(j)))
        try:
            model(x)
        except _Stop:
            pass
    if broken or len(inputs) != end - start:
        where = broken[0] if broken else "the target layer"
        raise CamError(f"the layers before {where!r} do not form a sequential chain in this "
                       "model's forward pass; FG-CAM needs a sequential main path")
    return [inputs[j] for j in range(start, end)]


def input_relevance(model: nn.Module, x: Tensor, layer: Layer, rel: Tensor) -> Tensor:
    """Gradient-times-input relevance of ``x`` for relevance ``rel`` at ``layer``'s output.

    ``R_x = x ⊙ ∂⟨f_L(x), stopgrad(rel / f_L(x))⟩/∂x`` (LRP-0 through the whole prefix
    ``f_L``); the forward pass stops right after ``layer``. Parameters get no gradients.
    """
    found: list[Tensor] = []

    def hook(_m: nn.Module, _args: tuple[object, ...], out: object) -> None:
        if isinstance(out, Tensor):
            found.append(out)
        raise _Stop

    handles: list[RemovableHandle] = []
    leaf = x.detach().requires_grad_(True)
    with hooks_removed(handles), torch.enable_grad():
        handles.append(layer[1].register_forward_hook(hook))
        try:
            model(leaf * 1)
        except _Stop:
            pass
        if not found:
            raise TargetLayerError(f"target layer {layer[0]!r} did not run")
        out = found[0]
        ok = out.detach().abs() > 1e-9
        ratio = torch.where(ok, rel / torch.where(ok, out.detach(), torch.ones_like(rel)), 0.0)
        (grad,) = torch.autograd.grad((out * ratio).sum(), leaf)
    return leaf.detach() * grad
