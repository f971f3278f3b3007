"""Cascading model-parameter randomisation (Adebayo et al., NeurIPS 2018; CAM_METHODS.md §7).

The network's blocks (its direct children that hold parameters, a plain
``nn.Sequential`` of several blocks opened up; registration order, which for MONAI and
torchvision classifiers is the forward order) are re-initialised one at a time *from
the logits downward*, cumulatively: after step ``k`` the last ``k`` blocks carry random
weights. After each step the saliency map of the same input and the same target class
is recomputed and compared with the map of the trained network by Spearman's rank correlation

    rho_k = corr(rank(L_trained), rank(L_k))   (over all voxels).

A method that explains the *model* passes if ``rho_k`` falls substantially as blocks
are randomised; a method whose map stays similar is insensitive to the weights (an
edge detector). Report the curve, not a single number. medcam maps are ReLU-ed and
min-max scaled, so ``|L| = L`` and one correlation serves both of Adebayo's variants.
A constant map carries no ranking; its correlation is reported as 0.

Re-initialisation calls each submodule's own ``reset_parameters()`` (PyTorch's default
initialisers; BatchNorm also resets its running statistics); a parameter not covered by
one is redrawn from ``N(0, std(p)^2)``. Everything runs on a deep copy, under a seeded
RNG, so the caller's model is untouched and the run is repeatable.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import Tensor, nn

from medcam.audit.errors import AuditError
from medcam.audit.metrics._common import MapLike, as_array

__all__ = ["CamFn", "RandomizationResult", "cascade_blocks", "cascading_randomization",
           "randomize_block", "spearman"]

#: ``(model, x, target) -> map``: a saliency map of shape ``spatial`` for input ``x``.
CamFn = Callable[[nn.Module, Tensor, int], MapLike]


def _has_params(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def _blocks(module: nn.Module, prefix: str) -> list[str]:
    names: list[str] = []
    for name, child in module.named_children():
        if not _has_params(child):
            continue
        full = f"{prefix}{name}"
        inner = [c for _, c in child.named_children() if _has_params(c)]
        if isinstance(child, nn.Sequential) and len(inner) > 1:
            names += _blocks(child, f"{full}.")
        else:
            names.append(full)
    return names


def cascade_blocks(model: nn.Module) -> tuple[str, ...]:
    """Dotted names of the parameter blocks, from the logits downward.

    The blocks are the model's direct children that hold parameters; a child that is an
    ``nn.Sequential`` of several such blocks (MONAI DenseNet's ``features``, a dense
    block) is opened and its own blocks listed instead, recursively.
    """
    return tuple(reversed(_blocks(model, "")))


def randomize_block(block: nn.Module, seed: int) -> None:
    """Re-initialise every parameter of ``block`` in place under a seeded RNG."""
    covered: set[int] = set()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for module in block.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
                covered.update(id(p) for p in module.parameters(recurse=False))
        for p in block.parameters():
            if id(p) not in covered:
                std = float(p.float().std()) if p.numel() > 1 else 1.0
                p.copy_(torch.randn_like(p) * (std if std > 0 else 1.0))


def spearman(a: MapLike, b: MapLike) -> float:
    """Spearman's rank correlation of two maps over all voxels (0 if either is constant)."""
    x, y = as_array(a).ravel(), as_array(b, "other map").ravel()
    if x.shape != y.shape:
        raise AuditError("maps to correlate must have the same shape")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(spearmanr(x, y).statistic)


@dataclass(frozen=True)
class RandomizationResult:
    """Similarity of the maps as blocks are randomised, top-down.

    Attributes:
        blocks: the randomised block at each step; step ``k`` has ``blocks[:k+1]`` random.
        spearman: ``rho_k`` per step.
        params: seed and the block order.

    """

    blocks: tuple[str, ...]
    spearman: tuple[float, ...]
    params: dict[str, Any] = field(default_factory=dict)


def cascading_randomization(model: nn.Module, x: Tensor, target: int, cam_fn: CamFn, *,
                            blocks: Sequence[str] | None = None, seed: int = 0
                            ) -> RandomizationResult:
    """Run the cascading randomisation check on one input.

    Args:
        model: the trained network (not modified).
        x: the input, ``(1, C, *spatial)``.
        target: the explained class (kept fixed for every step).
        cam_fn: computes a map for a model, input and target.
        blocks: dotted submodule names to randomise, in order; default
            :func:`cascade_blocks` (logits downward).
        seed: seed of the re-initialisation (step ``k`` uses ``seed + k``).

    Raises:
        AuditError: a block name is not a submodule of the model.

    """
    order = tuple(blocks) if blocks is not None else cascade_blocks(model)
    known = {name for name, _ in model.named_modules()}
    missing = [b for b in order if b not in known or not b]
    if missing or not order:
        raise AuditError(f"cannot randomise blocks {missing or 'none'}: not submodules")
    reference = as_array(cam_fn(model, x, target), "trained map")
    work = copy.deepcopy(model)
    rhos: list[float] = []
    for k, name in enumerate(order):
        randomize_block(work.get_submodule(name), seed + k)
        rhos.append(spearman(reference, cam_fn(work, x, target)))
    return RandomizationResult(order, tuple(rhos), {"seed": seed, "order": "logits downward",
                                                     "cumulative": True,
                                                     "similarity": "spearman"})
