"""The library facade: explain one series with one model and one CAM method.

Data flow: :func:`~medcam.model.preprocess.prepare` resamples the series onto the
model's input grid; a :mod:`medcam.cam` method computes the map on that grid in the
same forward pass that gives the probabilities; the map is resampled back onto the
series' own voxel grid through the same physical transform and normalised once per
volume (never per slice), so a faint slice stays faint.

Two scales of the same map are kept (both linear in the raw map, no offset):

* ``cam = raw / source_peak`` in [0, 1], ``source_peak`` the raw maximum on the source
  grid (per volume: every series' hottest voxel is 1);
* ``values = raw / scale.value`` in *scale units*: with a calibrated scale (the spec's
  ``cam_scale`` for the method, from ``medcam calibrate``) 1 is the model's reference
  level, so a study without evidence stays cold and strong evidence exceeds 1.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray

from medcam import cam as cam_methods
from medcam.errors import CamError, ModelError
from medcam.export.types import CamScale
from medcam.geometry import Geometry
from medcam.model.load import LoadedModel, load_model, resolve_spec
from medcam.model.preprocess import map_to_source, prepare
from medcam.model.spec import ModelSpec
from medcam.series.types import Series

__all__ = ["Explanation", "ScaleChoice", "TargetRule", "explain", "resolve_scale"]

#: How the explained class was chosen.
TargetRule = Literal["positive_class", "predicted", "requested"]
#: ``scale=`` of :func:`explain`: a mode name, an explicit scale, or ``None`` (default).
ScaleChoice = Literal["calibrated", "volume"] | CamScale | None


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
        raw_max: the largest un-normalised map value on the model grid.
        scale: how :attr:`values` is scaled (``shown = raw / scale.value``).
        source_peak: the largest un-normalised map value on the source grid; ``cam``
            is ``raw / source_peak``.
        target_rule: how the target was chosen: ``"positive_class"`` (the spec's),
            ``"predicted"`` (arg-max) or ``"requested"`` (named by the caller).
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
    scale: CamScale
    source_peak: float
    target_rule: TargetRule = "requested"
    timings: Mapping[str, float] = field(default_factory=dict)
    provenance: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.cam.shape != self.series.array.shape:
            raise CamError(f"map shape {self.cam.shape} differs from series "
                           f"{self.series.array.shape}")
        if self.cam.dtype != np.float32 or not np.isfinite(self.cam).all() or (
                self.cam.size and (self.cam.min() < 0 or self.cam.max() > 1)):
            raise CamError("map must be finite float32 in [0, 1]")
        if not isinstance(self.scale, CamScale):
            raise CamError("scale must be a CamScale")
        if not (np.isfinite(self.source_peak) and self.source_peak >= 0):
            raise CamError("source_peak must be finite and >= 0")
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

    @property
    def predicted(self) -> str:
        """The class with the highest probability (which may differ from :attr:`target`)."""
        return max(self.probabilities, key=lambda name: self.probabilities[name])

    @property
    def values(self) -> NDArray[np.float32]:
        """The map in scale units, ``raw / scale.value`` (float32 >= 0, may exceed 1).

        Computed on each access as ``cam * source_peak / scale.value`` (no second copy
        is kept); in ``volume`` mode it equals ``cam``.
        """
        factor = self.source_peak / self.scale.value
        if self.scale.mode == "volume" and abs(factor - 1.0) < 1e-6:
            return self.cam
        return (self.cam * np.float32(factor)).astype(np.float32, copy=False)

    @property
    def values_max(self) -> float:
        """Maximum of :attr:`values`, ``source_peak / scale.value``."""
        return self.source_peak / self.scale.value if self.source_peak > 0 else 0.0

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


def _target_index(target: int | str | None, spec: ModelSpec
                  ) -> tuple[int | None, TargetRule]:
    """The class index to explain (``None``: the predicted one) and the rule used."""
    if target is None:
        if spec.positive_class is not None:
            return spec.class_names.index(spec.positive_class), "positive_class"
        return None, "predicted"
    if isinstance(target, str) and target == "predicted" and target not in spec.class_names:
        return None, "predicted"
    return _named_index(target, spec), "requested"


def _named_index(target: int | str, spec: ModelSpec) -> int:
    if isinstance(target, str):
        if target not in spec.class_names:
            raise ModelError(f"unknown target class {target!r}; model {spec.name} has "
                             f"{', '.join(spec.class_names)}")
        return spec.class_names.index(target)
    if not 0 <= int(target) < len(spec.class_names):
        raise ModelError(f"target index {target} out of range for model {spec.name}")
    return int(target)


def resolve_scale(spec: ModelSpec, method: str, scale: ScaleChoice,
                  source_peak: float) -> CamScale:
    """The scale a map of ``method`` is shown at.

    Args:
        spec: the model spec (its ``cam_scale`` holds the calibrated values).
        method: the CAM method name.
        scale: ``"calibrated"`` (the spec's value; an error without one),
            ``"volume"`` (``source_peak`` shown as 1), a :class:`CamScale`, or
            ``None``: calibrated where the spec has a value for ``method``, else volume.
        source_peak: the map's raw maximum on the source grid.

    Raises:
        ModelError: ``"calibrated"`` asked for a method the spec has no scale for,
            or an unknown mode.

    """
    if isinstance(scale, CamScale):
        return scale
    calibrated = spec.scale_for(method)
    if scale is None:
        scale = "volume" if calibrated is None else "calibrated"
    if scale == "calibrated":
        if calibrated is None:
            raise ModelError(f"model {spec.name} has no calibrated scale for method {method}; "
                             "run `medcam calibrate` or use --scale volume")
        return CamScale("calibrated", calibrated)
    if scale == "volume":
        return CamScale("volume", source_peak if source_peak > 0 else 1.0)
    raise ModelError("scale must be 'calibrated' or 'volume'")


def explain(series: Series, model: str | Path | ModelSpec | LoadedModel = "demo-ct3d",
            method: str = "gradcam", target: int | str | None = None, *,
            target_layer: str | list[str] | None = None, device: str = "cpu",
            scale: ScaleChoice = None, **options: Any) -> Explanation:  # noqa: ANN401
    """Explain the model's prediction on ``series`` with a CAM method.

    Args:
        series: a series from :func:`medcam.read_series`.
        model: a built-in name (``medcam models``), a spec file, a TorchScript file
            with an embedded spec, a :class:`ModelSpec` or a loaded model.
        method: a name from :func:`medcam.cam.available`.
        target: class name or index to explain; ``None`` explains the spec's
            ``positive_class`` (the predicted class when it has none);
            ``"predicted"`` explains the predicted class.
        target_layer: override the spec's target layer (dotted name or list to fuse).
        device: torch device for the network and the CAM computation.
        scale: display scale of :attr:`Explanation.values`, see :func:`resolve_scale`.
        **options: passed to :func:`medcam.cam.create` (e.g. ``upsample="gaussian"``).

    Raises:
        ModelError: model cannot be loaded or does not fit the series.
        CamError: unknown method or failed CAM computation.

    """
    loaded = _load(model, device)
    spec = loaded.spec
    index, rule = _target_index(target, spec)
    if scale is not None and not isinstance(scale, CamScale):
        resolve_scale(spec, method, scale, 1.0)  # a missing calibration fails before the work
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
    raw = np.nan_to_num(result.raw[0].detach().cpu().numpy().astype(np.float32),
                        nan=0.0, posinf=0.0, neginf=0.0)
    raw_max = float(raw.max()) if raw.size else 0.0
    mapped = map_to_source(np.maximum(raw, 0.0), model_input.grid, series.geometry)
    del raw
    peak = float(mapped.max()) if mapped.size else 0.0
    cam = np.clip(mapped / np.float32(peak), 0.0, 1.0).astype(np.float32) if peak > 0 else \
        np.zeros_like(mapped, dtype=np.float32)
    del mapped
    shown = resolve_scale(spec, method, scale, peak)
    t3 = time.perf_counter()
    return Explanation(
        series=series, cam=cam,
        probabilities={n: float(p) for n, p in zip(spec.class_names, probs, strict=True)},
        target=spec.class_names[explained], target_index=explained, model=spec,
        method=method, target_layers=tuple(result.target_layers),
        feature_shape=tuple(result.feature_shape), grid=model_input.grid,
        grid_cam=grid_cam.reshape(model_input.grid.shape), raw_max=raw_max,
        scale=shown, source_peak=max(peak, 0.0), target_rule=rule,
        timings={"prepare": t1 - t0, "cam": t2 - t1, "map_back": t3 - t2},
        provenance={"medcam": _version(), "torch": torch.__version__,
                    "python": platform.python_version(), "device": str(device),
                    "model_sha256": spec.sha256},
    )


def _version() -> str:
    from medcam import __version__

    return __version__
