"""Aggregation over cases: mean and percentile-bootstrap confidence interval."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["bootstrap_ci", "summarize"]


def bootstrap_ci(values: Sequence[float], *, resamples: int = 2000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean.

    ``B`` resamples of the ``n`` values with replacement give means ``m_1..m_B``; the
    interval is their ``(1 - c) / 2`` and ``(1 + c) / 2`` quantiles. One value gives a
    zero-width interval.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("bootstrap of no values")
    if arr.size == 1:
        return float(arr[0]), float(arr[0])
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, arr.size, (resamples, arr.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return float(lo), float(hi)


def summarize(values: Sequence[float | None], *, resamples: int = 2000,
              confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """``{"mean", "ci95": [lo, hi], "n"}`` over the non-missing values (``None`` if none)."""
    kept = [float(v) for v in values if v is not None and np.isfinite(v)]
    if not kept:
        return {"mean": None, "ci": None, "n": 0}
    lo, hi = bootstrap_ci(kept, resamples=resamples, confidence=confidence, seed=seed)
    return {"mean": float(np.mean(kept)), "ci": [lo, hi], "n": len(kept)}
