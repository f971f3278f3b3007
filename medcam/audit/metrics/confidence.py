"""Confidence metrics and ADCC (CAM_METHODS.md §7; Chattopadhyay et al.; Poppi et al. 2021).

With ``y = p_c(x)`` and ``o = p_c(x_b + L (x - x_b))`` (the baseline-aware blend of the
input with its own map ``L``):

* **Average Drop** ``AD = 100 * mean_i max(0, y_i - o_i) / y_i`` (lower is better);
* **Increase in Confidence** ``IC = 100 * mean_i 1[o_i > y_i]`` (higher is better);
* **Coherency** ``Coh = (rho_Pearson(L(x), L(x_b + L (x - x_b))) + 1) / 2``, the second map
  recomputed by the same method on the blended input (higher is better);
* **Complexity** ``Com = mean_u |L(u)|`` (lower is better);
* **ADCC** ``= 3 / (1 / Coh + 1 / (1 - Com) + 1 / (1 - AD))``, all terms in [0, 1]
  (AD as a fraction), reported x100 (higher is better).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from medcam.audit.errors import AuditError
from medcam.audit.metrics._common import MapLike, ScoreFn, as_array, single_input
from medcam.audit.metrics.baselines import blend

__all__ = [
    "ConfidenceResult",
    "adcc",
    "average_drop",
    "coherency",
    "complexity",
    "confidence_change",
    "explanation_input",
    "increase_in_confidence",
]


def _probabilities(values: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0 or not np.isfinite(arr).all():
        raise AuditError(f"`{name}` must be a non-empty sequence of finite scores")
    return arr


def average_drop(original: Sequence[float], explained: Sequence[float]) -> float:
    """``AD = 100 * mean_i max(0, y_i - o_i) / y_i`` (samples with ``y_i = 0`` count 0)."""
    y = _probabilities(original, "original")
    o = _probabilities(explained, "explained")
    if y.shape != o.shape:
        raise AuditError("`original` and `explained` need one score per sample each")
    drop = np.where(y > 0, np.maximum(0.0, y - o) / np.where(y > 0, y, 1.0), 0.0)
    return float(100.0 * drop.mean())


def increase_in_confidence(original: Sequence[float], explained: Sequence[float]) -> float:
    """``IC = 100 * mean_i 1[o_i > y_i]``."""
    y = _probabilities(original, "original")
    o = _probabilities(explained, "explained")
    if y.shape != o.shape:
        raise AuditError("`original` and `explained` need one score per sample each")
    return float(100.0 * (o > y).mean())


def explanation_input(x: Tensor, saliency: MapLike, baseline: Tensor) -> Tensor:
    """Blend one input ``(C, *spatial)`` with its map: ``x_b + L (x - x_b)``."""
    sal = as_array(saliency)
    xi = single_input(x, sal.shape)
    keep = torch.from_numpy(np.clip(sal, 0.0, 1.0).astype(np.float32)).to(xi.device)
    return blend(xi, keep, single_input(baseline, sal.shape).to(xi.dtype))


@dataclass(frozen=True)
class ConfidenceResult:
    """Scores of one input before and after masking it with its own map.

    Attributes:
        original: ``y = p_c(x)``.
        explained: ``o = p_c(x_b + L (x - x_b))``.
        drop: ``max(0, y - o) / y`` (a fraction; 0 when ``y = 0``).
        increase: ``o > y``.

    """

    original: float
    explained: float
    drop: float
    increase: bool


def confidence_change(score_fn: ScoreFn, x: Tensor, saliency: MapLike, baseline: Tensor
                      ) -> ConfidenceResult:
    """Score ``x`` and its explanation blend in one batch; see :class:`ConfidenceResult`."""
    xi = single_input(x, as_array(saliency).shape)
    batch = torch.stack([xi, explanation_input(xi, saliency, baseline)])
    y, o = (float(v) for v in score_fn(batch).detach().cpu().double())
    drop = max(0.0, y - o) / y if y > 0 else 0.0
    return ConfidenceResult(original=y, explained=o, drop=drop, increase=o > y)


def coherency(saliency: MapLike, saliency_on_explanation: MapLike) -> float:
    """``Coh = (rho_Pearson(L1, L2) + 1) / 2``; 0.5 when either map is constant."""
    a = as_array(saliency).ravel()
    b = as_array(saliency_on_explanation, "saliency_on_explanation").ravel()
    if a.shape != b.shape:
        raise AuditError("both maps must have the same shape")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.5
    rho = float(np.corrcoef(a, b)[0, 1])
    return float(np.clip((rho + 1.0) / 2.0, 0.0, 1.0))


def complexity(saliency: MapLike) -> float:
    """``Com = mean_u |L(u)|`` (the L1 norm over the voxel count)."""
    return float(np.abs(as_array(saliency)).mean())


def adcc(coherency_value: float, complexity_value: float, drop_fraction: float) -> float:
    """``100 * 3 / (1/Coh + 1/(1 - Com) + 1/(1 - AD))`` with AD as a fraction in [0, 1].

    A zero term (``Coh = 0``, ``Com = 1`` or ``AD = 1``) gives ADCC 0.

    Raises:
        AuditError: a term outside [0, 1].

    """
    terms = (coherency_value, 1.0 - complexity_value, 1.0 - drop_fraction)
    if not all(np.isfinite(t) and -1e-9 <= t <= 1.0 + 1e-9 for t in terms):
        raise AuditError("ADCC needs coherency, complexity and drop in [0, 1]")
    if min(terms) <= 0:
        return 0.0
    return float(100.0 * 3.0 / sum(1.0 / t for t in terms))
