"""Localisation metrics against a ground-truth mask (CAM_METHODS.md §7), N-d.

* **Pointing game** (Zhang et al., ECCV 2016): a *hit* if the hottest voxel
  ``argmax_u L(u)`` lies inside the ground truth dilated by a tolerance in mm.
  Accuracy over cases = hits / (hits + misses).
* **Energy-based pointing game** (Wang et al., Score-CAM):
  ``E = sum_{u in GT} L(u) / sum_u L(u)``.
* **IoU / Dice** of the map thresholded at ``t``: ``P = {u : L(u) >= t}``,
  ``IoU = |P & G| / |P | G|``, ``Dice = 2 |P & G| / (|P| + |G|)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import distance_transform_edt

from medcam.audit.errors import AuditError
from medcam.audit.metrics._common import MapLike, as_array, as_mask

__all__ = [
    "OverlapResult",
    "PointingResult",
    "dilate_mask",
    "energy_pointing_game",
    "overlap",
    "pointing_game",
]


def _spacing(spacing: Sequence[float] | None, ndim: int) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * ndim
    values = tuple(float(s) for s in spacing)
    if len(values) != ndim or not all(np.isfinite(v) and v > 0 for v in values):
        raise AuditError(f"`spacing` needs {ndim} positive mm values, got {tuple(spacing)}")
    return values


def dilate_mask(mask: MapLike, spacing: Sequence[float] | None = None, tolerance_mm: float = 0.0
                ) -> NDArray[np.bool_]:
    """Grow a mask by ``tolerance_mm``: every voxel whose centre lies within that distance.

    ``D(u) = min_{v in mask} || (u - v) * spacing ||_2``; the result is
    ``{u : D(u) <= tolerance_mm}`` (exact Euclidean distance, anisotropic spacing).

    Args:
        mask: boolean array (non-zero = inside).
        spacing: voxel spacing per axis in mm; ``None`` means 1 mm (pixel units).
        tolerance_mm: dilation radius; 0 returns the mask unchanged.

    Raises:
        AuditError: negative tolerance or spacing of the wrong length.

    """
    m = as_mask(mask)
    if tolerance_mm < 0 or not np.isfinite(tolerance_mm):
        raise AuditError("`tolerance_mm` must be finite and >= 0")
    sampling = _spacing(spacing, m.ndim)
    if tolerance_mm == 0 or not m.any() or m.all():
        return m.copy()
    dist = distance_transform_edt(~m, sampling=sampling)
    return np.asarray(dist <= tolerance_mm, dtype=bool)


@dataclass(frozen=True)
class PointingResult:
    """One pointing-game trial.

    Attributes:
        hit: whether the hottest voxel lies in the (dilated) ground truth.
        peak_index: index of the hottest voxel (first in C order among ties).
        distance_mm: distance from the peak to the undilated ground truth (0 inside).
        params: ``tolerance_mm`` and ``spacing`` used.

    """

    hit: bool
    peak_index: tuple[int, ...]
    distance_mm: float
    params: dict[str, Any] = field(default_factory=dict)


def pointing_game(saliency: MapLike, mask: MapLike, *, spacing: Sequence[float] | None = None,
                  tolerance_mm: float = 0.0) -> PointingResult:
    """Pointing game: ``hit = argmax_u L(u) in dilate(GT, tolerance_mm)``.

    Args:
        saliency: the map ``L`` (2D or 3D).
        mask: ground truth of the same shape.
        spacing: voxel spacing in mm per axis (``None``: 1 mm, i.e. pixel units).
        tolerance_mm: tolerance of the original paper (15 pixels there), in mm here.

    Raises:
        AuditError: shapes differ, the mask is empty, or the map is not finite.

    """
    sal = as_array(saliency)
    gt = as_mask(mask, sal.shape)
    if not gt.any():
        raise AuditError("the pointing game needs a non-empty ground-truth mask")
    sampling = _spacing(spacing, sal.ndim)
    peak = tuple(int(i) for i in np.unravel_index(int(np.argmax(sal)), sal.shape))
    dist = distance_transform_edt(~gt, sampling=sampling) if not gt.all() else np.zeros(gt.shape)
    d = float(dist[peak])
    return PointingResult(hit=bool(d <= tolerance_mm), peak_index=peak, distance_mm=d,
                          params={"tolerance_mm": float(tolerance_mm),
                                  "spacing_mm": list(sampling)})


def energy_pointing_game(saliency: MapLike, mask: MapLike) -> float:
    """Energy-based pointing game ``sum_{u in GT} L(u) / sum_u L(u)``.

    Negative map values are clipped to 0 first (the map is an energy). A map with no
    energy (all zeros) points nowhere and scores 0.

    Raises:
        AuditError: shapes differ or the map is not finite.

    """
    sal = np.clip(as_array(saliency), 0.0, None)
    gt = as_mask(mask, sal.shape)
    total = float(sal.sum())
    return float(sal[gt].sum() / total) if total > 0 else 0.0


@dataclass(frozen=True)
class OverlapResult:
    """Overlap of the thresholded map with the ground truth.

    Attributes:
        iou: ``|P & G| / |P | G|`` (1 when both are empty).
        dice: ``2 |P & G| / (|P| + |G|)`` (1 when both are empty).
        threshold: ``t`` in ``P = {u : L(u) >= t}``.

    """

    iou: float
    dice: float
    threshold: float


def overlap(saliency: MapLike, mask: MapLike, threshold: float = 0.5) -> OverlapResult:
    """IoU and Dice of ``P = {u : L(u) >= threshold}`` against the mask.

    Raises:
        AuditError: shapes differ, or the threshold is not finite.

    """
    if not np.isfinite(threshold):
        raise AuditError("`threshold` must be finite")
    sal = as_array(saliency)
    gt = as_mask(mask, sal.shape)
    pred = sal >= threshold
    inter = float(np.logical_and(pred, gt).sum())
    union = float(np.logical_or(pred, gt).sum())
    size = float(pred.sum() + gt.sum())
    iou = inter / union if union > 0 else 1.0
    dice = 2.0 * inter / size if size > 0 else 1.0
    return OverlapResult(iou=iou, dice=dice, threshold=float(threshold))
