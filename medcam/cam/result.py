"""The result of one CAM computation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from torch import Tensor

from medcam.errors import CamError

__all__ = ["CamResult"]


@dataclass(frozen=True)
class CamResult:
    """One CAM computation and its provenance.

    Attributes:
        maps: ``(N, *input_spatial)`` float32 in [0, 1], min-max per sample over the volume.
        raw: the un-normalised map after ReLU, upsampled to the input grid (for several
            target layers: the fused map, each layer scaled as in LayerCAM).
        feature_maps: the un-normalised map at feature resolution ``(N, *feature_shape)``.
        logits: the model output of the same forward pass, detached.
        targets: the class explained per sample (``None`` for callable targets).
        feature_shape: the feature grid the map was computed on (for several layers, the
            finest one).
        method: the method name.
        target_layers: dotted names of the layers used.
        params: the method's options (read-only), for provenance.

    """

    maps: Tensor
    raw: Tensor
    feature_maps: Tensor
    logits: Tensor
    targets: tuple[int | None, ...]
    feature_shape: tuple[int, ...]
    method: str
    target_layers: tuple[str, ...]
    params: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        n = self.maps.shape[0]
        if self.raw.shape != self.maps.shape or self.feature_maps.shape[0] != n:
            raise CamError("CamResult maps, raw and feature_maps disagree in shape")
        if tuple(self.feature_maps.shape[1:]) != self.feature_shape or len(self.targets) != n:
            raise CamError("CamResult feature_shape or targets do not match the maps")
