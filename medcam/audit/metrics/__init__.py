"""Saliency-map metrics, one module per family, usable one by one on arrays and tensors.

* :mod:`.localization`: pointing game (mm tolerance), energy pointing game, IoU/Dice;
* :mod:`.perturbation`: deletion and insertion curves and AUC;
* :mod:`.confidence`: average drop, increase in confidence, coherency, complexity, ADCC;
* :mod:`.road`: ROAD MoRF/LeRF with N-d noisy linear imputation (:mod:`.imputation`);
* :mod:`.baselines`: modality-aware perturbation baselines and the blend ``x_b + m (x - x_b)``.

Definitions follow CAM_METHODS.md §7; every function states its formula.
"""

from __future__ import annotations

from medcam.audit.metrics._common import ScoreFn, class_probability, rank_voxels
from medcam.audit.metrics.baselines import blend, default_baselines, make_baseline
from medcam.audit.metrics.confidence import (
    ConfidenceResult,
    adcc,
    average_drop,
    coherency,
    complexity,
    confidence_change,
    explanation_input,
    increase_in_confidence,
)
from medcam.audit.metrics.imputation import noisy_linear_impute, stencil
from medcam.audit.metrics.localization import (
    OverlapResult,
    PointingResult,
    dilate_mask,
    energy_pointing_game,
    overlap,
    pointing_game,
)
from medcam.audit.metrics.perturbation import CurveResult, deletion, insertion, perturbation_curve
from medcam.audit.metrics.road import RoadResult, road, road_removed

__all__ = [
    "ScoreFn",
    "class_probability",
    "rank_voxels",
    # localisation
    "PointingResult",
    "OverlapResult",
    "dilate_mask",
    "pointing_game",
    "energy_pointing_game",
    "overlap",
    # perturbation
    "blend",
    "default_baselines",
    "make_baseline",
    "CurveResult",
    "deletion",
    "insertion",
    "perturbation_curve",
    # confidence
    "ConfidenceResult",
    "adcc",
    "average_drop",
    "coherency",
    "complexity",
    "confidence_change",
    "explanation_input",
    "increase_in_confidence",
    # ROAD
    "RoadResult",
    "noisy_linear_impute",
    "road",
    "road_removed",
    "stencil",
]
