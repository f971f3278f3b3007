"""The metrics reported per case and method: key, better direction, label, family."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from medcam.audit.config import AuditConfig

__all__ = ["METRICS", "SCHEMA", "MetricInfo", "metric_parameters", "metric_table"]

#: Version tag written at the top of metrics.json.
SCHEMA = "medcam.audit/1"


@dataclass(frozen=True)
class MetricInfo:
    """One reported number: ``key`` in metrics.json, which way is better, a short label."""

    key: str
    better: Literal["higher", "lower"]
    label: str
    family: Literal["localisation", "faithfulness"]
    definition: str


METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("pointing_game", "higher", "Pointing game", "localisation",
               "1 if argmax L lies in the ground truth dilated by tolerance_mm; mean = accuracy"),
    MetricInfo("energy_pointing_game", "higher", "Energy PG", "localisation",
               "sum of L inside the ground truth / sum of L"),
    MetricInfo("iou", "higher", "IoU", "localisation",
               "|P & G| / |P | G| with P = {L >= threshold}"),
    MetricInfo("dice", "higher", "Dice", "localisation",
               "2 |P & G| / (|P| + |G|) with P = {L >= threshold}"),
    MetricInfo("deletion_auc", "lower", "Deletion AUC", "faithfulness",
               "trapezoid AUC of p_c while the most salient voxels go to the deletion baseline"),
    MetricInfo("insertion_auc", "higher", "Insertion AUC", "faithfulness",
               "trapezoid AUC of p_c while the most salient voxels enter the insertion baseline"),
    MetricInfo("average_drop", "lower", "Avg drop %", "faithfulness",
               "100 max(0, y - o) / y, o = p_c(x_b + L (x - x_b)); mean = AD"),
    MetricInfo("increase_in_confidence", "higher", "Increase %", "faithfulness",
               "100 [o > y]; mean = IC"),
    MetricInfo("coherency", "higher", "Coherency", "faithfulness",
               "(Pearson(L(x), L(x_b + L (x - x_b))) + 1) / 2"),
    MetricInfo("complexity", "lower", "Complexity", "faithfulness", "mean |L|"),
    MetricInfo("adcc", "higher", "ADCC", "faithfulness",
               "100 * 3 / (1/Coh + 1/(1 - Com) + 1/(1 - AD)) per case"),
    MetricInfo("road_morf", "lower", "ROAD MoRF", "faithfulness",
               "mean p_c over fractions after imputing the most relevant voxels"),
    MetricInfo("road_lerf", "higher", "ROAD LeRF", "faithfulness",
               "mean p_c over fractions after imputing the least relevant voxels"),
    MetricInfo("road_combined", "higher", "ROAD combined", "faithfulness",
               "mean over fractions of (LeRF - MoRF) / 2"),
    MetricInfo("sanity_final_spearman", "lower", "Sanity rho (all random)", "faithfulness",
               "Spearman rho of the map after every block is randomised vs trained"),
)


def metric_table() -> dict[str, dict[str, str]]:
    """``{key: {"better", "label", "family", "definition"}}`` for metrics.json."""
    return {m.key: {"better": m.better, "label": m.label, "family": m.family,
                    "definition": m.definition} for m in METRICS}


def metric_parameters(config: AuditConfig, spatial_dims: int) -> dict[str, dict[str, Any]]:
    """Every metric's resolved parameters, as written to metrics.json."""
    neighbourhood = config.road_neighbourhood or (6 if spatial_dims == 3 else 8)
    baseline = {"deletion": config.deletion_baseline, "insertion": config.insertion_baseline,
                "auto": "CT: deletion to air (-1000 HU through the model window), insertion "
                        "from blur; other modalities: blur", "blur_sigma_mm": config.blur_sigma_mm,
                "blend": "x_b + m (x - x_b)"}
    return {
        "pointing_game": {"tolerance_mm": config.tolerance_mm, "grid": "source series",
                          "dilation": "exact Euclidean distance with the voxel spacing",
                          "ties": "first voxel in C order"},
        "energy_pointing_game": {"grid": "source series", "negative_values": "clipped to 0"},
        "iou_dice": {"threshold": config.threshold, "rule": "L >= threshold",
                     "grid": "source series"},
        "deletion_insertion": {"n_steps": config.n_steps, "step_fraction": 1 / config.n_steps,
                               "unit": "voxel", "grid": "model input", "auc": "trapezoid",
                               "tie_break_seed": config.seed, **baseline},
        "confidence": {"score": "softmax probability of the target class",
                       "baseline": "the deletion baseline", "grid": "model input"},
        "coherency": {"maps": "same method recomputed on x_b + L (x - x_b), model input grid"},
        "road": {"fractions": list(config.road_fractions), "neighbourhood": neighbourhood,
                 "noise_std": config.road_noise, "imputation": "noisy linear",
                 "solver": "scipy.sparse: SuperLU up to 20000 unknowns, else Jacobi-CG"},
        "sanity": {"enabled": config.sanity, "cases": config.sanity_cases,
                   "order": "top-level blocks, logits downward, cumulative",
                   "init": "reset_parameters() under seed + step", "similarity": "spearman"},
        "aggregate": {"statistic": "mean over cases", "interval": "percentile bootstrap",
                      "resamples": config.bootstrap_resamples,
                      "confidence": config.confidence, "seed": config.seed},
    }
