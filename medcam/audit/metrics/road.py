"""ROAD: RemOve And Debias (Rong et al., ICML 2022), N-d (CAM_METHODS.md §7).

For each fraction ``q`` a set of voxels is removed and filled by noisy linear
imputation (:mod:`~medcam.audit.metrics.imputation`), then ``p_c`` is measured:

* **MoRF**: the ``round(q M)`` *most* relevant voxels are removed (lower is better);
* **LeRF**: the ``round(q M)`` *least* relevant voxels are removed (higher is better);
* **combined** ``= mean_q (LeRF(q) - MoRF(q)) / 2`` (pytorch-grad-cam's ``ROADCombined``;
  higher is better).

medcam's defaults: ``q in {0.1, 0.3, 0.5, 0.7, 0.9}``, the 6-neighbour stencil in 3D and
the 8-neighbour ROAD stencil in 2D, noise ``sigma = 0.01`` on the [0, 1] network input.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from medcam.audit.defaults import ROAD_FRACTIONS
from medcam.audit.errors import AuditError
from medcam.audit.metrics._common import (
    MapLike,
    ScoreFn,
    as_array,
    rank_voxels,
    score_batches,
    single_input,
)
from medcam.audit.metrics.imputation import noisy_linear_impute

__all__ = ["DEFAULT_FRACTIONS", "RoadResult", "road", "road_removed"]

DEFAULT_FRACTIONS = ROAD_FRACTIONS


@dataclass(frozen=True)
class RoadResult:
    """MoRF and LeRF scores at each removal fraction.

    Attributes:
        fractions: the removal fractions ``q``.
        morf: ``p_c`` after removing the most relevant ``q`` (lower is better).
        lerf: ``p_c`` after removing the least relevant ``q`` (higher is better).
        params: stencil, noise, seed and fractions used.

    """

    fractions: tuple[float, ...]
    morf: tuple[float, ...]
    lerf: tuple[float, ...]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def morf_mean(self) -> float:
        """Mean MoRF score over the fractions."""
        return float(np.mean(self.morf))

    @property
    def lerf_mean(self) -> float:
        """Mean LeRF score over the fractions."""
        return float(np.mean(self.lerf))

    @property
    def combined(self) -> float:
        """``mean_q (LeRF(q) - MoRF(q)) / 2``."""
        return float(np.mean((np.asarray(self.lerf) - np.asarray(self.morf)) / 2.0))


def road_removed(saliency: MapLike, fraction: float, *, most_relevant: bool, seed: int = 0
                 ) -> np.ndarray:
    """Boolean mask of the ``round(fraction * M)`` most (or least) relevant voxels."""
    if not 0.0 <= fraction <= 1.0:
        raise AuditError("ROAD fractions must lie in [0, 1]")
    sal = as_array(saliency)
    order = rank_voxels(sal, seed)
    count = round(fraction * sal.size)
    chosen = order[:count] if most_relevant else order[sal.size - count:]
    mask = np.zeros(sal.size, dtype=bool)
    mask[chosen] = True
    return mask.reshape(sal.shape)


def road(score_fn: ScoreFn, x: Tensor, saliency: MapLike, *,
         fractions: Sequence[float] = DEFAULT_FRACTIONS, neighbourhood: int | None = None,
         noise_std: float = 0.01, seed: int = 0, batch_size: int = 8) -> RoadResult:
    """ROAD MoRF and LeRF curves of one input.

    Args:
        score_fn: batch ``(B, C, *spatial)`` -> ``(B,)`` scores, e.g. ``p_c``.
        x: the input, ``(C, *spatial)`` or ``(1, C, *spatial)``.
        saliency: map of shape ``spatial``.
        fractions: removal fractions ``q``.
        neighbourhood: imputation stencil (default 8 in 2D, 6 in 3D).
        noise_std: imputation noise.
        seed: seed of the tie-breaking order and of the noise.
        batch_size: imputed inputs scored per model call.

    Raises:
        AuditError: shapes disagree or a fraction is outside [0, 1].

    """
    sal = as_array(saliency)
    xi = single_input(x, sal.shape)
    if neighbourhood is None:
        neighbourhood = 6 if sal.ndim == 3 else 3**sal.ndim - 1
    qs = tuple(float(q) for q in fractions)
    if not qs:
        raise AuditError("ROAD needs at least one fraction")

    def inputs(most: bool) -> Iterator[Tensor]:
        for i, q in enumerate(qs):
            removed = road_removed(sal, q, most_relevant=most, seed=seed)
            yield noisy_linear_impute(xi, removed, neighbourhood=neighbourhood,
                                      noise_std=noise_std, seed=seed + i)

    with torch.no_grad():
        morf = score_batches(score_fn, inputs(True), batch_size)
        lerf = score_batches(score_fn, inputs(False), batch_size)
    params = {"fractions": list(qs), "neighbourhood": neighbourhood, "noise_std": noise_std,
              "imputation": "noisy linear", "seed": seed}
    return RoadResult(qs, tuple(morf.tolist()), tuple(lerf.tolist()), params)
