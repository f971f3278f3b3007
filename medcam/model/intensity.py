"""Scaling voxel values to a network's [0, 1] input range, by the spec's intensity window.

Written against the array API, so the pipeline (NumPy) and the demo-model training on
the virtual scanner (torch, any device) scale intensities with one piece of code.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import array_namespace

from medcam.model.spec import ModelSpec

__all__ = ["scale_intensity"]


def _percentiles(values: Any, q: tuple[float, float]) -> tuple[float, float]:  # noqa: ANN401
    """Percentiles ``q`` of ``values`` by linear interpolation (NumPy's default rule)."""
    if isinstance(values, np.ndarray):
        low, high = np.percentile(values, q)
    else:  # a torch tensor (training on the virtual scanner): the same linear rule
        import torch

        low, high = torch.quantile(values.reshape(-1).float(),
                                   torch.tensor(q, device=values.device) / 100.0)
    return float(low), float(high)


def scale_intensity(values: Any, spec: ModelSpec, monochrome1: bool = False  # noqa: ANN401
                    ) -> Any:  # noqa: ANN401
    """Scale voxel values to [0, 1] by the spec's intensity window.

    ``values`` is a NumPy array or a torch tensor (on any device); the result is
    float32 of the same kind.
    """
    xp = array_namespace(values)
    win = spec.intensity
    if win.mode == "window":
        low, high = win.low, win.high
    else:
        low, high = _percentiles(values, (win.low, win.high))
        high = max(high, low + 1e-6)
    out = xp.astype(xp.clip((values - low) / (high - low), 0.0, 1.0), xp.float32)
    return 1.0 - out if monochrome1 else out
