"""Perturbation baselines ``x_b`` and the baseline-aware blend (CAM_METHODS.md §3.7, §6.2).

Zero-masking a normalised CT tensor is not neutral, so every perturbation metric
replaces voxels with a *baseline* volume instead and blends as
``x_b + m * (x - x_b)`` (``m = 1`` keeps the input, ``m = 0`` gives the baseline):

* ``"air"``: a constant, the network-input value of air (-1000 HU through the model's
  intensity window; for the demo CT window [-1000, 400] HU that is 0.0);
* ``"blur"``: the input blurred by a Gaussian of ``sigma_mm`` (default 20 mm; per axis with
  the grid spacing), RISE's insertion start;
* ``"mean"``: the input's mean value; ``"zero"``: 0.

The modality-aware default (:func:`default_baselines`) is ``air`` for deletion and
``blur`` for insertion on CT, ``blur`` for both elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from torch import Tensor

from medcam.audit.defaults import BLUR_SIGMA_MM
from medcam.audit.errors import AuditError

__all__ = [
    "AIR_HU",
    "BaselineKind",
    "blend",
    "default_baselines",
    "make_baseline",
]

BaselineKind = Literal["air", "blur", "mean", "zero"]
#: Hounsfield value of air.
AIR_HU = -1000.0


def make_baseline(x: Tensor, kind: BaselineKind, *, air_value: float = 0.0,
                  sigma_mm: float = BLUR_SIGMA_MM, spacing: Sequence[float] | None = None
                  ) -> Tensor:
    """Build the baseline ``x_b`` for one input ``x`` of shape ``(C, *spatial)``.

    Args:
        x: the model input.
        kind: ``"air"`` (constant ``air_value``), ``"blur"``, ``"mean"`` or ``"zero"``.
        air_value: network-input value of air (-1000 HU through the model's window).
        sigma_mm: Gaussian standard deviation of ``"blur"`` in mm.
        spacing: voxel spacing of the input grid in mm (``None``: 1 mm).

    Raises:
        AuditError: unknown kind or bad parameters.

    """
    if kind == "air":
        return torch.full_like(x, float(air_value))
    if kind == "zero":
        return torch.zeros_like(x)
    if kind == "mean":
        return torch.full_like(x, float(x.float().mean()))
    if kind != "blur":
        raise AuditError(f"unknown baseline {kind!r}; use air, blur, mean or zero")
    ndim = x.dim() - 1
    sp = (1.0,) * ndim if spacing is None else tuple(float(s) for s in spacing)
    if len(sp) != ndim or min(sp) <= 0 or sigma_mm <= 0:
        raise AuditError(f"blur needs sigma_mm > 0 and {ndim} positive spacings")
    sigma = (0.0, *(sigma_mm / s for s in sp))
    arr = x.detach().cpu().double().numpy()
    out = gaussian_filter(arr, sigma=sigma, mode="nearest")
    return torch.from_numpy(out.astype(np.float32)).to(dtype=x.dtype, device=x.device)


def blend(x: Tensor, keep: Tensor, baseline: Tensor) -> Tensor:
    """``x_b + keep * (x - x_b)``; ``keep`` broadcasts over the channel axis."""
    return baseline + keep.to(x.dtype) * (x - baseline)


def default_baselines(modality: str | None) -> tuple[BaselineKind, BaselineKind]:
    """Return the (deletion, insertion) baselines of a modality: CT (air, blur), else blur."""
    return ("air", "blur") if (modality or "").upper() == "CT" else ("blur", "blur")
