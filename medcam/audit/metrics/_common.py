"""Shared helpers of the metrics: array conversion, model scores, voxel ranking.

Conventions used by every metric:

* a *saliency map* ``L`` is an N-d array (2D or 3D) of finite values, usually in [0, 1];
* a *mask* is a boolean array of the same shape (the ground-truth region);
* a model *input* ``x`` is one sample, ``(C, *spatial)`` or ``(1, C, *spatial)``;
* a :data:`ScoreFn` maps a batch ``(B, C, *spatial)`` to one score per row ``(B,)``,
  by default the softmax probability ``p_c = softmax(f(x))_c`` (:func:`class_probability`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TypeAlias

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor, nn

from medcam.audit.errors import AuditError

__all__ = [
    "MapLike",
    "ScoreFn",
    "as_array",
    "as_mask",
    "class_probability",
    "rank_voxels",
    "score_batches",
    "single_input",
]

#: A map or mask: a NumPy array (or nested sequence) or a torch tensor.
MapLike: TypeAlias = ArrayLike | Tensor
#: Batch ``(B, C, *spatial)`` -> score per row ``(B,)``.
ScoreFn = Callable[[Tensor], Tensor]


def as_array(values: MapLike, name: str = "saliency") -> NDArray[np.float64]:
    """Return a finite float64 NumPy copy of an array or tensor."""
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    arr = np.array(values, dtype=np.float64)
    if arr.ndim == 0 or arr.size == 0:
        raise AuditError(f"`{name}` must be a non-empty array")
    if not np.isfinite(arr).all():
        raise AuditError(f"`{name}` holds non-finite values")
    return arr


def as_mask(values: MapLike, shape: tuple[int, ...] | None = None, name: str = "mask"
            ) -> NDArray[np.bool_]:
    """Return a boolean copy of ``values`` (non-zero = inside), checked against ``shape``."""
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    mask: NDArray[np.bool_] = np.asarray(np.asarray(values) != 0, dtype=bool)
    if shape is not None and mask.shape != tuple(shape):
        raise AuditError(f"`{name}` has shape {mask.shape}, the map has {tuple(shape)}")
    return mask


def single_input(x: Tensor, spatial: tuple[int, ...] | None = None) -> Tensor:
    """One model input as ``(C, *spatial)``; accepts ``(1, C, *spatial)``."""
    if not isinstance(x, Tensor):
        raise AuditError("the model input must be a torch tensor")
    if spatial is not None and x.dim() == len(spatial) + 2:
        if x.shape[0] != 1:
            raise AuditError("metrics take one input at a time (batch size 1)")
        x = x[0]
    if spatial is not None and tuple(x.shape[1:]) != tuple(spatial):
        raise AuditError(f"input spatial shape {tuple(x.shape[1:])} differs from the map's "
                         f"{tuple(spatial)}")
    return x


def class_probability(model: nn.Module, target: int) -> ScoreFn:
    """Score function ``x -> softmax(model(x))[:, target]`` evaluated without gradients."""

    def score(batch: Tensor) -> Tensor:
        with torch.no_grad():
            out = model(batch)
        return torch.softmax(out.float(), dim=1)[:, target]

    return score


def _chunks(items: Iterable[Tensor], size: int) -> Iterator[list[Tensor]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def score_batches(score_fn: ScoreFn, inputs: Iterable[Tensor], batch_size: int = 8
                  ) -> NDArray[np.float64]:
    """Scores of single inputs ``(C, *spatial)``, evaluated ``batch_size`` at a time."""
    if batch_size < 1:
        raise AuditError("`batch_size` must be at least 1")
    scores: list[float] = []
    for chunk in _chunks(inputs, batch_size):
        out = score_fn(torch.stack(chunk))
        if out.shape != (len(chunk),):
            raise AuditError(f"the score function must return shape ({len(chunk)},), "
                             f"got {tuple(out.shape)}")
        scores.extend(float(v) for v in out.detach().cpu().double())
    return np.asarray(scores, dtype=np.float64)


def rank_voxels(saliency: NDArray[np.float64], seed: int = 0) -> NDArray[np.int64]:
    """Flat voxel indices sorted by decreasing saliency.

    Ties are broken by a random permutation drawn from ``seed`` (not raster order), so a
    flat or binary map does not favour the first rows of the volume.
    """
    flat = saliency.ravel()
    perm = np.random.default_rng(seed).permutation(flat.size)
    order = np.argsort(-flat[perm], kind="stable")
    return perm[order].astype(np.int64)
