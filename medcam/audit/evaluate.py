"""All metrics of one case and one CAM method (the runner's inner loop).

Localisation metrics are computed on the *source* series grid, where the ground truth
lives (the map is resampled there and scaled by its peak, as :func:`medcam.explain`
does). Faithfulness metrics are computed on the *model input* grid, where the network
sees the perturbations. Confidence metrics (AD, IC, coherency) use the deletion
baseline for ``x_b``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from torch import Tensor, nn

from medcam import cam
from medcam.audit import metrics as m
from medcam.audit.config import AuditConfig
from medcam.audit.randomization import cascading_randomization
from medcam.audit.seg import GroundTruth
from medcam.geometry import Geometry
from medcam.model.preprocess import map_to_source
from medcam.series.types import Series

__all__ = ["CaseContext", "Overlay", "evaluate_method", "split_method"]


@dataclass(frozen=True)
class CaseContext:
    """What every method of one case shares.

    Attributes:
        case_id: case folder name.
        series: the source series.
        ground_truth: its mask, if the case has a SEG.
        module: the network (eval mode).
        target_layer: CAM target layer (``None``: the method's default).
        x: the network input ``(1, C, *spatial)``.
        grid: the input grid in LPS.
        grid_spacing: spacing of the input's spatial axes in mm.
        target: the explained class index.
        deletion_baseline: ``x_b`` of deletion, AD, IC and coherency ``(C, *spatial)``.
        insertion_baseline: ``x_b`` of insertion.
        baseline_kinds: (deletion, insertion) baseline names.
        run_sanity: whether this case gets the randomisation check.

    """

    case_id: str
    series: Series
    ground_truth: GroundTruth | None
    module: nn.Module
    target_layer: str | None
    x: Tensor
    grid: Geometry
    grid_spacing: tuple[float, ...]
    target: int
    deletion_baseline: Tensor
    insertion_baseline: Tensor
    baseline_kinds: tuple[str, str]
    run_sanity: bool


@dataclass(frozen=True)
class Overlay:
    """The hottest source slice of one case and method, for the report.

    ``mask`` is the ground truth on that slice, ``mask_projection`` its union over all
    slices (drawn dashed, so a map peak off the lesion's slices is still placed).
    """

    case_id: str
    method: str
    slice_index: int
    image: NDArray[np.float32]
    heat: NDArray[np.float32]
    mask: NDArray[np.bool_] | None
    hit: bool | None
    aspect: float = 1.0
    mask_projection: NDArray[np.bool_] | None = None


def _source_map(grid_map: NDArray[np.float32], ctx: CaseContext) -> NDArray[np.float32]:
    mapped = map_to_source(grid_map.reshape(ctx.grid.shape), ctx.grid, ctx.series.geometry)
    peak = float(mapped.max()) if mapped.size else 0.0
    return (np.clip(mapped / peak, 0, 1) if peak > 0 else np.zeros_like(mapped)).astype(
        np.float32)


def _localisation(source: NDArray[np.float32], gt: GroundTruth, spacing: tuple[float, ...],
                  config: AuditConfig) -> dict[str, Any]:
    point = m.pointing_game(source, gt.mask, spacing=spacing, tolerance_mm=config.tolerance_mm)
    both = m.overlap(source, gt.mask, config.threshold)
    return {"pointing_game": float(point.hit), "pointing_distance_mm": point.distance_mm,
            "energy_pointing_game": m.energy_pointing_game(source, gt.mask),
            "iou": both.iou, "dice": both.dice}


def _faithfulness(ctx: CaseContext, engine: cam.CamMethod, grid_map: NDArray[np.float32],
                  config: AuditConfig) -> dict[str, Any]:
    score = m.class_probability(ctx.module, ctx.target)
    kinds = {"deletion": ctx.baseline_kinds[0], "insertion": ctx.baseline_kinds[1]}
    common = {"n_steps": config.n_steps, "batch_size": config.batch_size, "seed": config.seed}
    dele = m.deletion(score, ctx.x, grid_map, ctx.deletion_baseline, **common,
                      params={"baseline": kinds["deletion"]})
    ins = m.insertion(score, ctx.x, grid_map, ctx.insertion_baseline, **common,
                      params={"baseline": kinds["insertion"]})
    conf = m.confidence_change(score, ctx.x, grid_map, ctx.deletion_baseline)
    blended = m.explanation_input(ctx.x, grid_map, ctx.deletion_baseline)
    again = engine(blended[None], ctx.target)[0].detach().cpu().numpy()
    coh = m.coherency(grid_map, again)
    com = m.complexity(grid_map)
    road = m.road(score, ctx.x, grid_map, fractions=config.road_fractions,
                  neighbourhood=config.road_neighbourhood, noise_std=config.road_noise,
                  seed=config.seed, batch_size=config.batch_size)
    return {
        "deletion_auc": dele.auc, "insertion_auc": ins.auc,
        "average_drop": 100.0 * conf.drop, "increase_in_confidence": 100.0 * conf.increase,
        "p_original": conf.original, "p_explanation": conf.explained,
        "coherency": coh, "complexity": com, "adcc": m.adcc(coh, com, conf.drop),
        "road_morf": road.morf_mean, "road_lerf": road.lerf_mean,
        "road_combined": road.combined,
        "curves": {"fractions": list(dele.fractions), "deletion": list(dele.scores),
                   "insertion": list(ins.scores), "road_fractions": list(road.fractions),
                   "road_morf": list(road.morf), "road_lerf": list(road.lerf)},
    }


def split_method(method: str, default_layer: str | None) -> tuple[str, str | None]:
    """``"name@layer"`` -> ``(name, layer)``; a plain name keeps ``default_layer``."""
    name, _, layer = method.partition("@")
    return name, layer or default_layer


def _sanity(ctx: CaseContext, method: str, config: AuditConfig) -> dict[str, Any]:
    name, layer = split_method(method, ctx.target_layer)

    def cam_fn(model: nn.Module, x: Tensor, target: int) -> NDArray[np.float32]:
        engine = cam.create(name, model, target_layer=layer)
        return engine(x, target)[0].detach().cpu().numpy()

    result = cascading_randomization(ctx.module, ctx.x, ctx.target, cam_fn, seed=config.seed)
    return {"blocks": list(result.blocks), "spearman": list(result.spearman),
            "sanity_final_spearman": result.spearman[-1]}


def evaluate_method(ctx: CaseContext, method: str, config: AuditConfig
                    ) -> tuple[dict[str, Any], Overlay]:
    """Compute one method's map for a case and every metric on it.

    ``method`` is a name from :func:`medcam.cam.available`, optionally ``name@layer`` to
    use another target layer for that method.

    Returns:
        The method's entry of the case in metrics.json, and its report overlay.

    Raises:
        CamError: the method cannot explain this model (the runner records it).

    """
    name, layer = split_method(method, ctx.target_layer)
    engine = cam.create(name, ctx.module, target_layer=layer)
    t0 = time.perf_counter()
    grid_map = engine(ctx.x, ctx.target)[0].detach().cpu().numpy().astype(np.float32)
    t1 = time.perf_counter()
    source = _source_map(grid_map, ctx)
    entry: dict[str, Any] = {}
    gt = ctx.ground_truth
    if gt is not None:
        entry.update(_localisation(source, gt, ctx.series.geometry.spacing, config))
    entry.update(_faithfulness(ctx, engine, grid_map, config))
    if ctx.run_sanity:
        sanity = _sanity(ctx, method, config)
        entry["sanity_final_spearman"] = sanity.pop("sanity_final_spearman")
        entry["sanity"] = sanity
    entry["time_s"] = {"cam": t1 - t0, "metrics": time.perf_counter() - t1}
    k = int(np.unravel_index(int(np.argmax(source)), source.shape)[0])
    overlay = Overlay(ctx.case_id, method, k, np.asarray(ctx.series.array[k], np.float32),
                      source[k], None if gt is None else np.asarray(gt.mask[k]),
                      None if gt is None else bool(entry["pointing_game"]),
                      ctx.series.geometry.spacing[1] / ctx.series.geometry.spacing[2],
                      None if gt is None else np.asarray(gt.mask.any(axis=0)))
    return entry, overlay
