"""The typed base of every CAM method: input checks, hook lifecycle, post-processing.

A method subclasses :class:`CamMethod` (or :class:`GradientCam`) and supplies only the map
at feature resolution; the base runs the model once with its state guarded (see
:mod:`medcam.cam.hooks`), resolves targets, and finishes every map the same way: ReLU,
upsampling to the input grid (per-axis factors), per-sample min-max over the whole
volume. Everything is N-d: shapes are unpacked as ``n, k, *spatial``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import ClassVar, Literal, TypedDict

import torch
from torch import Tensor, nn

from medcam.cam.heads import LinearHead, detect_head
from medcam.cam.hooks import Call, Capture, Layer, capture, model_guard, substitute_forward
from medcam.cam.layers import LayerSpec, pick_from_trace, resolve_layers, structural_guess
from medcam.cam.normalize import minmax
from medcam.cam.result import CamResult
from medcam.cam.targets import Target, Targets, resolve_targets
from medcam.cam.upsample import UpsampleMode, upsample
from medcam.errors import CamError, TargetLayerError

__all__ = ["BaseOptions", "CamMethod", "CamResult", "Context", "CostClass", "GradientCam",
           "weighted_sum"]

CostClass = Literal["gradient", "perturbation", "gradient-free"]
#: LayerCAM's rescaling factor for shallow layers in multi-layer fusion.
FUSION_GAMMA = 2.0


class BaseOptions(TypedDict, total=False):
    """Options every method accepts (see :class:`CamMethod`)."""

    upsample: UpsampleMode
    sigma: float | Sequence[float] | None
    relu: bool
    batch_size: int
    closed_form: bool


def weighted_sum(weights: Tensor, acts: Tensor) -> Tensor:
    """``sum_k w_k A_k`` for ``(N, K)`` weights and ``(N, K, *spatial)`` activations."""
    n, k, *spatial = acts.shape
    return (weights.reshape(n, k, *[1] * len(spatial)) * acts).sum(dim=1)


@dataclass
class Context:
    """Everything a method needs to build its feature-resolution map."""

    method: CamMethod
    x: Tensor
    layers: tuple[Layer, ...]
    capture: Capture
    targets: Targets
    calls: list[Call]

    @property
    def acts(self) -> Tensor:
        """Activations of the (single) target layer, float32."""
        return self.capture.activations[0].float()

    @property
    def grads(self) -> Tensor:
        """Gradients of the target score with respect to :attr:`acts`, float32."""
        return self.capture.gradients[0].float()

    @property
    def output(self) -> Tensor:
        """The model output of the explained forward pass."""
        return self.capture.output

    @cached_property
    def head(self) -> LinearHead | None:
        """The GAP+linear head after the target layer, if any (and ``closed_form`` is on)."""
        if not self.method.closed_form:
            return None
        return detect_head(self.calls, self.layers[0][0], self.acts, self.output)

    def head_scores(self, sample: int, pooled: Tensor, *, prob: bool) -> Tensor:
        """Target scores of the closed-form head on ``(B, K)`` pooled feature vectors."""
        if self.head is None:
            raise CamError("closed-form scores need a GAP+linear head after the target layer")
        logits = self.head.logits(pooled)
        return (self.targets.probability if prob else self.targets.score)(logits, sample)

    def tail_scores(self, sample: int, total: int, make: Callable[[int, int], Tensor], *,
                    prob: bool) -> Tensor:
        """Target scores of ``total`` substituted feature maps, ``batch_size`` at a time.

        Args:
            sample: the sample whose input runs the layers before the target layer.
            total: how many feature maps.
            make: ``make(start, stop)`` builds feature maps ``start:stop`` as ``(B, K, *s)``.
            prob: softmax probability of the class instead of its logit.

        """
        pick = self.targets.probability if prob else self.targets.score
        out = []
        for start in range(0, total, self.method.batch_size):
            feats = make(start, min(start + self.method.batch_size, total))
            logits = substitute_forward(self.method.model, self.x[sample:sample + 1],
                                        self.layers[0], feats)
            out.append(pick(logits, sample).float())
        return torch.cat(out)

    def input_scores(self, sample: int, inputs: Tensor, *, prob: bool) -> Tensor:
        """Target scores of full forward passes on ``inputs`` (one sample's variants)."""
        with torch.no_grad():
            logits = self.method.model(inputs)
        pick = self.targets.probability if prob else self.targets.score
        return pick(logits, sample).float()


class CamMethod(ABC):
    """Base of all CAM methods.

    Args:
        model: a PyTorch classifier (``nn.Module``, not TorchScript).
        target_layer: dotted module name, module, or a list of them (multi-layer fusion,
            gradient methods only); ``None`` picks the last spatial feature layer.
        upsample: ``"linear"`` (bi/trilinear, default) or ``"gaussian"`` (Extended-CAM
            receptive-field upsampling, see :mod:`medcam.cam.upsample`).
        sigma: Gaussian upsampling sigma in input voxels (one value or one per axis);
            default: the stride of each axis.
        relu: apply ReLU to the map before upsampling (default ``True``).
        batch_size: items per forward pass in perturbation methods.
        closed_form: use the GAP+linear closed forms where a method has one and the head
            is detected (default ``True``); ``False`` forces the batched general path.

    Raises:
        CamError: invalid options.
        TargetLayerError: an unknown or unhookable target layer.

    """

    #: The name :func:`medcam.cam.create` and ``medcam methods`` know the method by.
    name: ClassVar[str] = ""
    #: Short citation with arXiv id or venue.
    paper: ClassVar[str] = ""
    #: One line for ``medcam methods``.
    summary: ClassVar[str] = ""
    #: ``"gradient"``, ``"perturbation"`` or ``"gradient-free"``.
    cost_class: ClassVar[CostClass] = "gradient"
    needs_grad: ClassVar[bool] = False
    multi_layer: ClassVar[bool] = False

    def __init__(self, model: nn.Module, target_layer: LayerSpec | None = None, *,
                 upsample: UpsampleMode = "linear", sigma: float | Sequence[float] | None = None,
                 relu: bool = True, batch_size: int = 32, closed_form: bool = True) -> None:
        if not isinstance(model, nn.Module):
            raise CamError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if upsample not in ("linear", "gaussian"):
            raise CamError(f"unknown upsample mode {upsample!r}: use 'linear' or 'gaussian'")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise CamError(f"batch_size must be a positive int, got {batch_size!r}")
        self.model = model
        self.layers_given = resolve_layers(model, target_layer)
        if len(self.layers_given) > 1 and not self.multi_layer:
            raise CamError(f"{self.name} explains one target layer; multi-layer fusion is "
                           "available for the gradient methods")
        self.upsample, self.sigma, self.relu, self.batch_size = upsample, sigma, relu, batch_size
        self.closed_form = closed_form
        self._auto: dict[int, tuple[Layer, ...]] = {}
        self._calls: dict[tuple[int, ...], list[Call]] = {}

    def options(self) -> dict[str, object]:
        """Return the method's options, recorded in :attr:`CamResult.params`."""
        sigma = self.sigma if self.sigma is None or isinstance(self.sigma, int | float) \
            else tuple(self.sigma)
        return {"upsample": self.upsample, "sigma": sigma, "relu": self.relu,
                "batch_size": self.batch_size, "closed_form": self.closed_form}

    def __call__(self, x: Tensor, target: Target = None) -> Tensor:
        """Normalised maps ``(N, *x.shape[2:])`` in [0, 1]; see :meth:`compute`."""
        return self.compute(x, target).maps

    def compute(self, x: Tensor, target: Target = None) -> CamResult:
        """Compute the maps for ``x`` and ``target``.

        Args:
            x: input batch ``(N, C, *spatial)`` with 1 to 3 spatial axes.
            target: ``None`` (predicted class), a class index, one index per sample, or a
                callable mapping the model output to one score per sample ``(N,)``.

        Raises:
            CamError: bad input or target, or a gradient method inside inference mode.
            TargetLayerError: the target layer cannot be used.

        """
        if not isinstance(x, Tensor) or not 3 <= x.ndim <= 5 or not x.is_floating_point():
            raise CamError("x must be a floating-point tensor (N, C, *spatial) with 1-3 "
                           "spatial axes")
        if self.needs_grad and torch.is_inference_mode_enabled():
            raise CamError(f"{self.name} needs gradients and cannot run inside "
                           "torch.inference_mode(); use torch.no_grad() or a gradient-free "
                           "method such as 'recipro'")
        with model_guard(self.model):
            layers, cap = self._run(x)
            targets = resolve_targets(target, cap.output, x.shape[0])
            if self.needs_grad:
                with torch.enable_grad():
                    cap.backward(targets.score(cap.output))
            ctx = Context(self, x, layers, cap, targets, self._calls[tuple(x.shape[1:])])
            fmaps = [m.detach().float() for m in self.layer_maps(ctx)]
        return self._finish(x, fmaps, ctx)

    def _run(self, x: Tensor) -> tuple[tuple[Layer, ...], Capture]:
        key = tuple(x.shape[1:])
        auto = not self.layers_given
        layers = self.layers_given or self._auto.get(x.ndim)
        if layers is None:
            guess = structural_guess(self.model)
            if guess is None:
                probe = capture(self.model, x[:1], (), grad=False, trace=True)
                guess = pick_from_trace(probe.calls, x.ndim)
            if guess is None:
                raise TargetLayerError("no layer with a spatial output was found; pass "
                                       "target_layer explicitly")
            layers = (guess,)
        first = key not in self._calls
        cap = capture(self.model, x, layers, grad=self.needs_grad, trace=first)
        if first and auto and x.ndim not in self._auto:
            picked = pick_from_trace(cap.calls, x.ndim)
            if picked is not None and picked[0] != layers[0][0]:
                layers = (picked,)
                cap = capture(self.model, x, layers, grad=self.needs_grad, trace=True)
            self._auto[x.ndim] = layers
        if first:
            self._calls[key] = cap.calls
        return layers, cap

    @abstractmethod
    def layer_maps(self, ctx: Context) -> list[Tensor]:
        """Un-normalised maps at feature resolution, one ``(N, *s)`` per target layer."""

    def _finish(self, x: Tensor, fmaps: list[Tensor], ctx: Context) -> CamResult:
        size = tuple(x.shape[2:])
        if self.relu:
            fmaps = [torch.relu(m) for m in fmaps]
        if len(fmaps) == 1:
            raw = upsample(fmaps[0], size, self.upsample, self.sigma)
        else:
            raw = self._fuse(fmaps, ctx.capture.order, size)
        finest = max(range(len(fmaps)), key=lambda i: fmaps[i][0].numel())
        return CamResult(
            maps=minmax(raw), raw=raw, feature_maps=fmaps[finest],
            logits=ctx.output.detach(), targets=ctx.targets.classes,
            feature_shape=tuple(fmaps[finest].shape[1:]), method=self.name,
            target_layers=tuple(name for name, _ in ctx.layers),
            params=MappingProxyType(self.options()))

    def _fuse(self, fmaps: list[Tensor], order: list[int], size: tuple[int, ...]) -> Tensor:
        """Fuse layer maps LayerCAM-style.

        Shallow maps become ``tanh(gamma * M / max M)``, the deepest ``M / max M``; each is
        upsampled, then the element-wise maximum is taken.
        """
        fused = None
        for rank, i in enumerate(order):
            m = fmaps[i]
            peak = m.flatten(1).amax(dim=1).clamp_min(1e-12).reshape(-1, *[1] * (m.ndim - 1))
            scaled = m / peak if rank == len(order) - 1 else torch.tanh(FUSION_GAMMA * m / peak)
            up = upsample(scaled, size, self.upsample, self.sigma)
            fused = up if fused is None else torch.maximum(fused, up)
        if fused is None:
            raise CamError("layer fusion needs at least one layer map")
        return fused


class GradientCam(CamMethod):
    """Base of the gradient methods: one forward, gradients at the target layer only.

    Subclasses implement :meth:`layer_map`; several target layers are fused LayerCAM-style.
    """

    cost_class: ClassVar[CostClass] = "gradient"
    needs_grad: ClassVar[bool] = True
    multi_layer: ClassVar[bool] = True

    def layer_maps(self, ctx: Context) -> list[Tensor]:
        """One map per target layer from its activations and gradients."""
        return [self.layer_map(a.float(), g.float()) for a, g in
                zip(ctx.capture.activations, ctx.capture.gradients, strict=True)]

    @abstractmethod
    def layer_map(self, acts: Tensor, grads: Tensor) -> Tensor:
        """Return the map ``(N, *s)`` from activations and gradients ``(N, K, *s)``."""
