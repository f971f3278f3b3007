"""Cluster-CAM (Feng et al., arXiv 2302.01642; Neural Networks 178:106473, 2024) - adaptation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar, Unpack

import torch
from torch import Tensor, nn

from medcam.cam.base import BaseOptions, CamMethod, Context, CostClass
from medcam.cam.layers import LayerSpec
from medcam.cam.scorecam import Baseline, blend_scores, sample_baseline
from medcam.errors import CamError

__all__ = ["ClusterCam", "kmeans"]


def kmeans(rows: Tensor, k: int, seed: int = 0, iters: int = 50) -> tuple[Tensor, float]:
    """k-means++ / Lloyd on ``(K, D)`` rows with a private generator; (labels, inertia)."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    data = rows.double().cpu()
    centres = data[torch.randint(len(data), (1,), generator=gen)]
    for _ in range(1, k):
        dist = torch.cdist(data, centres).amin(dim=1) ** 2
        probs = dist / dist.sum() if dist.sum() > 0 else torch.full_like(dist, 1 / len(dist))
        centres = torch.cat([centres, data[torch.multinomial(probs, 1, generator=gen)]])
    labels = torch.zeros(len(data), dtype=torch.long)
    for step in range(iters):
        new = torch.cdist(data, centres).argmin(dim=1)
        if step and torch.equal(new, labels):
            break
        labels = new
        for j in range(k):
            if (labels == j).any():
                centres[j] = data[labels == j].mean(dim=0)
    inertia = float(((data - centres[labels]) ** 2).sum())
    return labels.to(rows.device), inertia


def _elbow(rows: Tensor, seed: int) -> int:
    """Cluster count at the elbow of the inertia curve over 3 .. ceil(log2 K) + 1."""
    top = min(len(rows), math.ceil(math.log2(max(len(rows), 2))) + 1)
    counts = list(range(min(3, top), top + 1))
    if len(counts) < 3:
        return counts[-1]
    inertia = torch.tensor([kmeans(rows, c, seed)[1] for c in counts], dtype=torch.float64)
    xs = torch.linspace(0, 1, len(counts), dtype=torch.float64)
    span = inertia[0] - inertia[-1]
    ys = (inertia - inertia[-1]) / span if span > 0 else torch.zeros_like(inertia)
    return counts[int(torch.argmax((1 - xs) - ys))]


class ClusterCam(CamMethod):
    """Cluster-CAM, a documented adaptation (the paper's equations were not recovered).

    From the paper (abstract level): channels of the target layer are clustered without
    supervision, a "cognition-base" and a "cognition-scissors" map are built from the
    cluster maps and merged; far fewer forward passes than Score-CAM. Following a
    third-party reading: cluster maps are the means of their member channels; each is
    scored Score-CAM style, ``s_g = p_c(x_b + H_g (x - x_b)) - p_c(x_b)``; map
    ``ReLU(base - scissors)`` with base = the best-scoring, scissors = the worst-scoring
    cluster map. medcam's choices: k-means++ on L2-normalised channel maps with a fixed
    seed; ``clusters=None`` picks the count at the elbow (largest distance to the chord of
    the inertia curve) over ``3 .. ceil(log2 K) + 1``; the baseline blend of Score-CAM.
    Cost: 1 + G forward passes per sample (the baseline term does not change the ranking).

    Args:
        clusters: the number of clusters ``G`` (default: elbow).
        seed: the k-means seed.
        baseline: as for Score-CAM (a number, ``"blur"`` or a tensor).
        blur_sigma: as for Score-CAM.

    """

    name = "clustercam"
    paper = "Feng et al., Neural Networks 2024, arXiv 2302.01642"
    summary = "Channel clusters scored by masked inputs; base minus scissors (adapted)."
    cost_class: ClassVar[CostClass] = "perturbation"

    def __init__(self, model: nn.Module, target_layer: LayerSpec | None = None, *,
                 clusters: int | None = None, seed: int = 0, baseline: Baseline = 0.0,
                 blur_sigma: float | Sequence[float] | None = None,
                 **options: Unpack[BaseOptions]) -> None:
        options.setdefault("batch_size", 16)
        super().__init__(model, target_layer, **options)
        if isinstance(baseline, str) and baseline != "blur":
            raise CamError(f"baseline must be a number, 'blur' or a tensor, not {baseline!r}")
        self.baseline, self.blur_sigma = baseline, blur_sigma
        if clusters is not None and (not isinstance(clusters, int) or clusters < 2):
            raise CamError(f"clusters must be an int >= 2 or None, got {clusters!r}")
        self.clusters, self.seed = clusters, seed

    def options(self) -> dict[str, object]:
        """Return the base options plus the clustering and the baseline."""
        base = "tensor" if isinstance(self.baseline, Tensor) else self.baseline
        return {**super().options(), "clusters": self.clusters, "seed": self.seed,
                "baseline": base, "blur_sigma": self.blur_sigma}

    def layer_maps(self, ctx: Context) -> list[Tensor]:
        """Return ``base - scissors`` per sample."""
        acts = ctx.acts
        maps = []
        for i in range(acts.shape[0]):
            rows = acts[i].flatten(1)
            unit = rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)
            count = min(self.clusters or _elbow(unit, self.seed), len(rows))
            labels, _ = kmeans(unit, count, self.seed)
            groups = [acts[i][labels == g].mean(dim=0) for g in range(count)
                      if (labels == g).any()]
            cmaps = torch.stack(groups)
            x_b = sample_baseline(ctx, i, self.baseline, self.blur_sigma)
            scores = blend_scores(ctx, i, cmaps, x_b, self.batch_size)  # - p_c(x_b): no effect
            maps.append(cmaps[int(scores.argmax())] - cmaps[int(scores.argmin())])
        return [torch.stack(maps)]
