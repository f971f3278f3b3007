"""The library facade: explain one series with one model and one CAM method.

Data flow: :func:`~medcam.model.preprocess.prepare` resamples the series onto the
model's input grid; a :mod:`medcam.cam` method computes the map on that grid in the
same forward pass that gives the probabilities; the map is resampled back onto the
series' own voxel grid through the same physical transform and normalised once per
volume (never per slice), so a faint slice stays faint.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from medcam import cam as cam_methods
from medcam.errors import CamError, ModelError
from medcam.geometry import Geometry
from medcam.model.load import LoadedModel, load_model, resolve_spec
from medcam.model.preprocess import map_to_source, prepare
from medcam.model.spec import ModelSpec
from medcam.series.types import Series

__all__ = ["Explanation", "explain"]


@dataclass(frozen=True, repr=False)
class Explanation:
    """The result of :func:`explain`; valid once constructed.

    Args:
        series: the source series.
        cam: float32 map in [0, 1] with exactly ``series.array.shape``, normalised
            per volume (1 = the hottest voxel of the series).
        probabilities: class name -> softmax probability.
        target: the explained class name; ``target_index`` its output index.
        model: the model spec used; ``method`` the CAM method name.
        target_layers: the hooked layers; ``feature_shape`` their map size.
        grid: the model input grid (LPS); ``grid_cam`` the map on it.
        raw_max: the largest un-normalised map value on the grid (scale of 1.0).
        timings: seconds per step (``prepare``, ``cam``, ``map_back``).
        provenance: versions and device.

    """

    series: Series
    cam: NDArray[np.float32]
    probabilities: Mapping[str, float]
    target: str
    target_index: int
    model: ModelSpec
    method: str
    target_layers: tuple[str, ...]
    feature_shape: tuple[int, ...]
    grid: Geometry
    grid_cam: NDArray[np.float32]
    raw_max: float
    timings: Mapping[str, float] = field(default_factory=dict)
    provenance: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.cam.shape != self.series.array.shape:
            raise CamError(f"map shape {self.cam.shape} differs from series "
                           f"{self.series.array.shape}")
        if self.cam.dtype != np.float32 or not np.isfinite(self.cam).all() or (
                self.cam.size and (self.cam.min() < 0 or self.cam.max() > 1)):
            raise CamError("map must be finite float32 in [0, 1]")
        if self.target not in self.probabilities:
            raise CamError(f"target {self.target!r} is not one of the model's classes")
        for name in ("cam", "grid_cam"):
            getattr(self, name).flags.writeable = False
        object.__setattr__(self, "probabilities", MappingProxyType(dict(self.probabilities)))
        object.__setattr__(self, "timings", MappingProxyType(dict(self.timings)))
        object.__setattr__(self, "provenance", MappingProxyType(dict(self.provenance)))

    @property
    def probability(self) -> float:
        """Probability of the explained class."""
        return self.probabilities[self.target]

    def __repr__(self) -> str:
        """Identifiers and numbers only (no patient data)."""
        return (f"Explanation(model={self.model.name!r}, method={self.method!r}, "
                f"target={self.target!r}, p={self.probability:.3f}, shape={self.cam.shape})")


@lru_cache(maxsize=4)
def _cached_model(key: str, device: str) -> LoadedModel:
    return load_model(key, device=device)


def _load(model: str | Path | ModelSpec | LoadedModel, device: str) -> LoadedModel:
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, ModelSpec):
        return load_model(model, device=device)
    resolve_spec(model)  # raises a clear ModelError early for unknown names
    return _cached_model(str(model), device)


def _target_index(target: int | str | None, spec: ModelSpec) -> int | None:
    if target is None:
        return None
    if isinstance(target, str):
        if target not in spec.class_names:
            raise ModelError(f"unknown target class {target!r}; model {spec.name} has "
                             f"{', '.join(spec.class_names)}")
        return spec.class_names.index(target)
    if not 0 <= int(target) < len(spec.class_names):
        raise ModelError(f"target index {target} out of range for model {spec.name}")
    return int(target)


def explain(series: Series, model: str | Path | ModelSpec | LoadedModel = "demo-ct3d",
            method: str = "gradcam", target: int | str | None = None, *,
            target_layer: str | list[str] | None = None, device: str = "cpu",
            **options: Any) -> Explanation:  # noqa: ANN401
    """Explain the model's prediction on ``series`` with a CAM method.

    Args:
        series: a series from :func:`medcam.read_series`.
        model: a built-in name (``medcam models``), a spec file, a TorchScript file
            with an embedded spec, a :class:`ModelSpec` or a loaded model.
        method: a name from :func:`medcam.cam.available`.
        target: class name or index to explain; ``None`` explains the predicted class.
        target_layer: override the spec's target layer (dotted name or list to fuse).
        device: torch device for the network and the CAM computation.
        **options: passed to :func:`medcam.cam.create` (e.g. ``upsample="gaussian"``).

    Raises:
        ModelError: model cannot be loaded or does not fit the series.
        CamError: unknown method or failed CAM computation.

    """
    loaded = _load(model, device)
    spec = loaded.spec
    index = _target_index(target, spec)
    t0 = time.perf_counter()
    model_input = prepare(series, spec)
    t1 = time.perf_counter()
    layer = target_layer if target_layer is not None else spec.target_layer
    engine = cam_methods.create(method, loaded.module, target_layer=layer, **options)
    result = engine.compute(model_input.tensor.to(device), target=index)
    t2 = time.perf_counter()
    probs = torch.softmax(result.logits.float(), dim=1)[0].cpu().numpy()
    if len(probs) != len(spec.class_names):
        raise ModelError(f"model {spec.name} returned {len(probs)} outputs for "
                         f"{len(spec.class_names)} class names")
    explained = int(np.argmax(probs)) if index is None else index
    grid_cam = result.maps[0].detach().cpu().numpy().astype(np.float32)
    raw_max = float(result.raw[0].max().item())
    mapped = map_to_source(grid_cam, model_input.grid, series.geometry)
    peak = float(mapped.max()) if mapped.size else 0.0
    cam = np.clip(mapped / peak, 0.0, 1.0).astype(np.float32) if peak > 0 else \
        np.zeros_like(mapped, dtype=np.float32)
    t3 = time.perf_counter()
    return Explanation(
        series=series, cam=cam,
        probabilities={n: float(p) for n, p in zip(spec.class_names, probs, strict=True)},
        target=spec.class_names[explained], target_index=explained, model=spec,
        method=method, target_layers=tuple(result.target_layers),
        feature_shape=tuple(result.feature_shape), grid=model_input.grid,
        grid_cam=grid_cam.reshape(model_input.grid.shape), raw_max=raw_max,
        timings={"prepare": t1 - t0, "cam": t2 - t1, "map_back": t3 - t2},
        provenance={"medcam": _version(), "torch": torch.__version__,
                    "python": platform.python_version(), "device": str(device),
                    "model_sha256": spec.sha256},
    )


def _version() -> str:
    from medcam import __version__

    return __version__
