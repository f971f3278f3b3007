"""Per-method aggregation over cases: mean and bootstrap interval of each metric, mean curves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medcam.audit.config import AuditConfig
from medcam.audit.schema import METRICS
from medcam.audit.stats import summarize

__all__ = ["aggregate"]

_CURVES = ("deletion", "insertion", "road_morf", "road_lerf")


def _entries(cases: Sequence[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    return [c["methods"][method] for c in cases
            if method in c.get("methods", {}) and "error" not in c["methods"][method]]


def _mean_curves(entries: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with_curves = [e["curves"] for e in entries if "curves" in e]
    if not with_curves:
        return out
    out["fractions"] = with_curves[0]["fractions"]
    out["road_fractions"] = with_curves[0]["road_fractions"]
    for key in _CURVES:
        out[key] = np.mean([c[key] for c in with_curves], axis=0).tolist()
    return out


def _mean_sanity(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    runs = [e["sanity"] for e in entries if "sanity" in e]
    if not runs:
        return None
    return {"blocks": runs[0]["blocks"],
            "spearman_mean": np.mean([r["spearman"] for r in runs], axis=0).tolist(),
            "n": len(runs)}


def aggregate(cases: Sequence[dict[str, Any]], methods: Sequence[str], config: AuditConfig
              ) -> dict[str, Any]:
    """Summarise every method over the cases.

    Returns ``{method: {metric: {"mean", "ci", "n"}, "time_s", "curves", "sanity"}}``.
    Cases without a value (no ground truth, a failed method) are left out of that mean;
    ``n`` says how many cases each number rests on.
    """
    def boot(values: list[Any]) -> dict[str, Any]:
        return summarize(values, resamples=config.bootstrap_resamples,
                         confidence=config.confidence, seed=config.seed)

    out: dict[str, Any] = {}
    for method in methods:
        entries = _entries(cases, method)
        summary: dict[str, Any] = {
            info.key: boot([e.get(info.key) for e in entries]) for info in METRICS}
        summary["time_s"] = {
            part: boot([e["time_s"][part] for e in entries])
            for part in ("cam", "metrics")}
        summary["n_failed"] = sum(1 for c in cases if "error" in c.get("methods", {})
                                  .get(method, {}))
        summary["curves"] = _mean_curves(entries)
        summary["sanity"] = _mean_sanity(entries)
        out[method] = summary
    return out
