"""Score-CAM (Wang et al., CVPR-W 2020, arXiv 1910.01279)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal, Unpack

import torch
from torch import Tensor, nn

from medcam.cam.base import BaseOptions, CamMethod, Context, CostClass, weighted_sum
from medcam.cam.layers import LayerSpec
from medcam.cam.normalize import minmax
from medcam.cam.upsample import gaussian_blur, linear_upsample
from medcam.errors import CamError

__all__ = ["Baseline", "ScoreCam", "baseline_for", "blend_scores", "sample_baseline"]

#: ``float``: a constant volume (e.g. the normalised value of air); ``"blur"``: a Gaussian
#: blurred copy of the input; a tensor broadcastable to one sample ``(1, C, *spatial)``.
Baseline = float | Literal["blur"] | Tensor


def baseline_for(x: Tensor, baseline: Baseline, blur_sigma: float | Sequence[float]) -> Tensor:
    """Return the baseline volume ``x_b`` for one sample ``x`` ``(1, C, *spatial)``."""
    if isinstance(baseline, str):
        if baseline != "blur":
            raise CamError(f"baseline must be a number, 'blur' or a tensor, not {baseline!r}")
        return gaussian_blur(x, blur_sigma)
    if isinstance(baseline, Tensor):
        return baseline.to(x.device, x.dtype).expand_as(x)
    return torch.full_like(x, float(baseline))


def sample_baseline(ctx: Context, sample: int, baseline: Baseline,
                    blur_sigma: float | Sequence[float] | None) -> Tensor:
    """Return ``x_b`` for one sample; the default blur sigma is the feature stride per axis."""
    x = ctx.x[sample:sample + 1]
    strides = [s / f for s, f in zip(x.shape[2:], ctx.acts.shape[2:], strict=True)]
    return baseline_for(x, baseline, strides if blur_sigma is None else blur_sigma)


def blend_scores(ctx: Context, sample: int, maps: Tensor, x_b: Tensor, batch: int) -> Tensor:
    """Target probability of ``x_b + H_k (x - x_b)`` for every map ``k`` of ``maps``.

    ``H_k`` is map ``k`` ``(G, *s)`` upsampled linearly to the input grid and min-max
    scaled to [0, 1] (a constant map gives ``H = 0``, i.e. the baseline). Runs ``batch``
    full forward passes at a time.
    """
    x = ctx.x[sample:sample + 1]
    size = tuple(x.shape[2:])
    out = []
    for start in range(0, maps.shape[0], batch):
        masks = minmax(linear_upsample(maps[start:start + batch], size))[:, None]
        out.append(ctx.input_scores(sample, x_b + masks.to(x.dtype) * (x - x_b), prob=True))
    return torch.cat(out)


class ScoreCam(CamMethod):
    """Score-CAM with the baseline-aware blend of CAM_METHODS.md §3.7.

    Weights: ``w_k = p_c(x_b + H_k·(x - x_b)) - p_c(x_b)`` (the paper's CIC: softmax
    probability of the class for the blended input minus that of the baseline; for
    callable targets the callable's score); map ``ReLU(sum_k w_k A_k)``. ``K`` full forward
    passes, ``batch_size`` at a time. With the default ``baseline=0.0`` the blend is the
    paper's ``x ⊙ H_k``; for CT/MR pass the normalised value of air or ``"blur"``.
    ``channels=k`` (medcam's option, not in the paper) scores only the ``k`` channels with
    the largest mean activation and gives the others weight 0, for affordable 3D runs.

    Args:
        baseline: a number, ``"blur"`` or a tensor (see :data:`Baseline`).
        blur_sigma: blur sigma in voxels for ``"blur"`` (default: the feature stride per
            axis, so detail finer than one feature cell is removed).
        channels: score only this many top channels (default: all).

    """

    name = "scorecam"
    paper = "Wang et al., CVPR-W 2020, arXiv 1910.01279"
    summary = "Weights from the class probability of inputs masked by each channel."
    cost_class: ClassVar[CostClass] = "perturbation"

    def __init__(self, model: nn.Module, target_layer: LayerSpec | None = None, *,
                 baseline: Baseline = 0.0, blur_sigma: float | Sequence[float] | None = None,
                 channels: int | None = None, **options: Unpack[BaseOptions]) -> None:
        options.setdefault("batch_size", 16)
        super().__init__(model, target_layer, **options)
        if isinstance(baseline, str) and baseline != "blur":
            raise CamError(f"baseline must be a number, 'blur' or a tensor, not {baseline!r}")
        if channels is not None and (not isinstance(channels, int) or channels < 1):
            raise CamError(f"channels must be a positive int or None, got {channels!r}")
        self.baseline, self.blur_sigma, self.channels = baseline, blur_sigma, channels

    def options(self) -> dict[str, object]:
        """Return the base options plus the baseline."""
        base = "tensor" if isinstance(self.baseline, Tensor) else self.baseline
        return {**super().options(), "baseline": base, "blur_sigma": self.blur_sigma,
                "channels": self.channels}


    def layer_maps(self, ctx: Context) -> list[Tensor]:
        """``sum_k w_k A_k`` with the Score-CAM weights, per sample."""
        acts = ctx.acts
        maps = []
        for i in range(acts.shape[0]):
            x_b = sample_baseline(ctx, i, self.baseline, self.blur_sigma)
            keep = torch.arange(acts.shape[1], device=acts.device)
            if self.channels is not None and self.channels < len(keep):
                keep = acts[i].flatten(1).mean(dim=1).topk(self.channels).indices
            weights = blend_scores(ctx, i, acts[i, keep], x_b, self.batch_size)
            weights = weights - ctx.input_scores(i, x_b, prob=True)
            maps.append(weighted_sum(weights[None], acts[i:i + 1, keep])[0])
        return [torch.stack(maps)]
