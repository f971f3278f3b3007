"""Deletion and insertion curves and their AUC (RISE, Petsiuk et al. 2018), N-d.

Voxels are ranked by decreasing saliency (ties broken by a seeded permutation).
With ``n`` steps and ``M`` voxels, step ``k`` (``k = 0..n``) affects the first
``round(k M / n)`` ranked voxels, a fraction ``k / n`` of the volume:

* *deletion*: start from ``x`` and replace them by the baseline ``x_b``;
  ``x_k = x_b + keep_k * (x - x_b)``, ``keep_k = 1`` outside the removed set. Lower AUC
  is better.
* *insertion*: start from ``x_b`` and put them back; ``keep_k = 1`` on the inserted set.
  Higher AUC is better.

The curve is ``p_c(x_k)`` for ``k = 0..n`` (``n + 1`` points) against ``k / n``, and
``AUC = trapezoid(p, k / n)`` on the [0, 1] axis. medcam's defaults: ``n = 50`` steps of
2 % of the voxels, single voxels (not feature-cell blocks), deletion to air and insertion
from a 20 mm blur on CT (:mod:`~medcam.audit.metrics.baselines`). Numbers are comparable
only between runs with the same choices, which metrics.json records.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from medcam.audit.defaults import N_STEPS
from medcam.audit.errors import AuditError
from medcam.audit.metrics._common import (
    MapLike,
    ScoreFn,
    as_array,
    rank_voxels,
    score_batches,
    single_input,
)

__all__ = ["CurveResult", "deletion", "insertion", "perturbation_curve"]

DEFAULT_STEPS = N_STEPS


@dataclass(frozen=True)
class CurveResult:
    """A deletion or insertion curve.

    Attributes:
        kind: ``"deletion"`` or ``"insertion"``.
        fractions: fraction of voxels removed/inserted at each point (0 to 1).
        scores: ``p_c`` at each point.
        auc: trapezoid area under ``scores`` over ``fractions``.
        params: steps, seed and any caller-supplied description of the baseline.

    """

    kind: str
    fractions: tuple[float, ...]
    scores: tuple[float, ...]
    auc: float
    params: dict[str, Any] = field(default_factory=dict)


def _inputs(x: Tensor, baseline: Tensor, order: np.ndarray, n_steps: int, insert: bool
            ) -> Iterator[Tensor]:
    total = order.size
    spatial = x.shape[1:]
    for k in range(n_steps + 1):
        count = round(k * total / n_steps)
        changed = np.zeros(total, dtype=bool)
        changed[order[:count]] = True
        keep = changed if insert else ~changed
        keep_t = torch.from_numpy(keep.reshape(spatial)).to(x.device)
        yield torch.where(keep_t, x, baseline)


def perturbation_curve(score_fn: ScoreFn, x: Tensor, saliency: MapLike, baseline: Tensor, *,
                       kind: Literal["deletion", "insertion"], n_steps: int = DEFAULT_STEPS,
                       batch_size: int = 8, seed: int = 0,
                       params: dict[str, Any] | None = None) -> CurveResult:
    """Compute the deletion or insertion curve of one input (formula: module docstring).

    Args:
        score_fn: batch ``(B, C, *spatial)`` -> ``(B,)`` scores, e.g. ``p_c``.
        x: the input, ``(C, *spatial)`` or ``(1, C, *spatial)``.
        saliency: map of shape ``spatial``.
        baseline: ``x_b``, same shape as ``x`` (see :func:`~.baselines.make_baseline`).
        kind: ``"deletion"`` or ``"insertion"``.
        n_steps: number of steps ``n``; each changes ``1/n`` of the voxels.
        batch_size: perturbed inputs scored per model call.
        seed: seed of the tie-breaking permutation.
        params: extra entries recorded in the result (e.g. the baseline kind).

    Raises:
        AuditError: shapes disagree or ``n_steps < 1``.

    """
    sal = as_array(saliency)
    xi = single_input(x, sal.shape)
    base = single_input(baseline, sal.shape)
    if base.shape != xi.shape:
        raise AuditError("`baseline` must have the shape of the input")
    if kind not in ("deletion", "insertion") or n_steps < 1:
        raise AuditError("kind must be deletion or insertion and n_steps >= 1")
    order = rank_voxels(sal, seed)
    scores = score_batches(score_fn, _inputs(xi, base.to(xi.dtype), order, n_steps,
                                             kind == "insertion"), batch_size)
    fractions = np.arange(n_steps + 1, dtype=np.float64) / n_steps
    auc = float(np.trapezoid(scores, fractions))
    info = {"n_steps": n_steps, "step_fraction": 1.0 / n_steps, "unit": "voxel",
            "tie_break_seed": seed, **(params or {})}
    return CurveResult(kind, tuple(fractions.tolist()), tuple(scores.tolist()), auc, info)


def deletion(score_fn: ScoreFn, x: Tensor, saliency: MapLike, baseline: Tensor, *,
             n_steps: int = DEFAULT_STEPS, batch_size: int = 8, seed: int = 0,
             params: dict[str, Any] | None = None) -> CurveResult:
    """Remove the most salient voxels first: the deletion curve (lower AUC is better)."""
    return perturbation_curve(score_fn, x, saliency, baseline, kind="deletion",
                              n_steps=n_steps, batch_size=batch_size, seed=seed, params=params)


def insertion(score_fn: ScoreFn, x: Tensor, saliency: MapLike, baseline: Tensor, *,
              n_steps: int = DEFAULT_STEPS, batch_size: int = 8, seed: int = 0,
              params: dict[str, Any] | None = None) -> CurveResult:
    """Insert the most salient voxels first: the insertion curve (higher AUC is better)."""
    return perturbation_curve(score_fn, x, saliency, baseline, kind="insertion",
                              n_steps=n_steps, batch_size=batch_size, seed=seed, params=params)
