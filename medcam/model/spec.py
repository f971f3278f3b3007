"""Model specifications: everything needed to run a classifier on a DICOM series.

A spec is data only (JSON or TOML; nothing in it is ever evaluated as code). It
names a network from ``monai.networks.nets`` with its keyword arguments and a
``state_dict`` checkpoint with its sha256, or a TorchScript file, and says how the
series is brought onto the model's input grid (size, spacing, intensity window).

Example (JSON)::

    {"name": "demo-ct3d", "version": "1.0", "network": "ResNet",
     "network_args": {"block": "basic", "layers": [1, 1, 1, 1], ...},
     "weights": "demo-ct3d.pt", "sha256": "…", "class_names": ["no_lesion", "lesion"],
     "spatial_dims": 3, "input_size": [64, 64, 64], "input_spacing": [5, 5, 5],
     "intensity": {"mode": "window", "low": -1000, "high": 400},
     "target_layer": "layer1", "modalities": ["CT"]}
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from medcam.errors import ModelError

__all__ = ["BUILTIN_DIR", "IntensityWindow", "ModelSpec", "builtin_names"]

#: Where the specs of the models shipped with medcam live (``<name>.json``).
BUILTIN_DIR = Path(__file__).parent / "specs"


def builtin_names() -> list[str]:
    """Names of the models shipped with medcam (no torch import needed)."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.json"))

IntensityMode = Literal["window", "percentile"]


@dataclass(frozen=True)
class IntensityWindow:
    """How voxel values are scaled to the network's [0, 1] input.

    ``mode="window"``: ``(v - low) / (high - low)`` clipped to [0, 1] (e.g. HU).
    ``mode="percentile"``: ``low``/``high`` are percentiles of the image itself,
    for modalities without calibrated units (DX/CR pixel values).
    """

    mode: IntensityMode = "window"
    low: float = -1000.0
    high: float = 400.0

    def __post_init__(self) -> None:
        if self.mode not in ("window", "percentile"):
            raise ModelError(f"intensity mode must be 'window' or 'percentile', not {self.mode!r}")
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.high <= self.low:
            raise ModelError("intensity window needs finite low < high")
        if self.mode == "percentile" and not (0 <= self.low < self.high <= 100):
            raise ModelError("percentile window needs 0 <= low < high <= 100")


@dataclass(frozen=True)
class ModelSpec:
    """A classifier and its input contract; valid once constructed.

    Args:
        name: short identifier, e.g. ``demo-ct3d``.
        version: version string recorded in every output.
        weights: path of the ``state_dict`` checkpoint or TorchScript file.
        sha256: expected hex digest of ``weights``.
        class_names: one name per network output.
        spatial_dims: 2 or 3.
        input_size: grid size in voxels, (slice, row, column) for 3D, (row, column) for 2D.
        input_spacing: grid spacing in mm, same order as ``input_size``.
        network: class name in ``monai.networks.nets`` (``None`` for TorchScript).
        network_args: keyword arguments for ``network``.
        format: ``"state_dict"`` or ``"torchscript"``.
        intensity: how voxel values are scaled.
        target_layer: default CAM target layer (dotted module name) or ``None`` (auto).
        modalities: accepted Modality values (empty: any).
        outside_value: value for grid points outside the series (before scaling);
            ``None`` uses the series minimum.
        description: one line for ``medcam models``.
        positive_class: the class a finding is reported for (one of ``class_names``),
            explained by default; ``None``: the predicted class is explained.
        cam_scale: CAM method name -> the raw map value shown as 1.0 in
            ``calibrated`` mode (finite, > 0), from ``medcam calibrate``.
        class_codes: class name -> (CodeValue, CodingSchemeDesignator, CodeMeaning)
            of the finding, e.g. ``("27925004", "SCT", "Nodule")``.
        calibration: CAM method name -> how its ``cam_scale`` was computed (a
            JSON-ready record: statistic, percentile, grid, cases, data set).
        body_parts: accepted Body Part Examined values (empty: any; see
            :mod:`medcam.model.fit`).
        min_coverage_mm: smallest field of view in mm, one value per spatial axis of
            the input or one for all (empty: none; see :mod:`medcam.model.fit`).

    """

    name: str
    version: str
    weights: Path
    sha256: str
    class_names: tuple[str, ...]
    spatial_dims: int
    input_size: tuple[int, ...]
    input_spacing: tuple[float, ...]
    network: str | None = None
    network_args: Mapping[str, Any] = field(default_factory=dict)
    format: Literal["state_dict", "torchscript"] = "state_dict"
    intensity: IntensityWindow = field(default_factory=IntensityWindow)
    target_layer: str | None = None
    modalities: tuple[str, ...] = ()
    outside_value: float | None = None
    description: str = ""
    positive_class: str | None = None
    cam_scale: Mapping[str, float] = field(default_factory=dict)
    class_codes: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)
    calibration: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    body_parts: tuple[str, ...] = ()
    min_coverage_mm: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", Path(self.weights))
        object.__setattr__(self, "class_names", tuple(self.class_names))
        object.__setattr__(self, "input_size", tuple(int(s) for s in self.input_size))
        object.__setattr__(self, "input_spacing", tuple(float(s) for s in self.input_spacing))
        object.__setattr__(self, "modalities", tuple(self.modalities))
        object.__setattr__(self, "network_args", MappingProxyType(dict(self.network_args)))
        if not self.name or not self.version:
            raise ModelError("model spec needs a name and a version")
        if self.spatial_dims not in (2, 3):
            raise ModelError("spatial_dims must be 2 or 3")
        if len(self.input_size) != self.spatial_dims or min(self.input_size) < 1:
            raise ModelError("input_size needs one positive size per spatial dimension")
        if len(self.input_spacing) != self.spatial_dims or not all(
                math.isfinite(s) and s > 0 for s in self.input_spacing):
            raise ModelError("input_spacing needs one positive mm value per spatial dimension")
        if len(self.class_names) < 2 or len(set(self.class_names)) != len(self.class_names):
            raise ModelError("class_names needs at least two distinct names")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ModelError("sha256 must be 64 lower-case hex digits")
        if self.format not in ("state_dict", "torchscript"):
            raise ModelError("format must be 'state_dict' or 'torchscript'")
        if self.format == "state_dict" and not self.network:
            raise ModelError("a state_dict spec must name its network")
        self._check_result_fields()
        self._check_fit_fields()

    def _check_result_fields(self) -> None:
        """Validate and freeze the result fields (positive class, scales, codes)."""
        if self.positive_class is not None and self.positive_class not in self.class_names:
            raise ModelError("positive_class must be one of class_names")
        for name, value in (("cam_scale", self.cam_scale), ("class_codes", self.class_codes),
                            ("calibration", self.calibration)):
            if not isinstance(value, Mapping):
                raise ModelError(f"{name} must be a table/object")
        scales: dict[str, float] = {}
        for method, scale in self.cam_scale.items():
            if not isinstance(method, str) or not method:
                raise ModelError("cam_scale keys must be CAM method names")
            if isinstance(scale, bool) or not isinstance(scale, int | float) or not (
                    math.isfinite(scale) and scale > 0):
                raise ModelError(f"cam_scale of {method!r} must be a finite number > 0")
            scales[method] = float(scale)
        object.__setattr__(self, "cam_scale", MappingProxyType(scales))
        codes = {}
        for cls, code in self.class_codes.items():
            if cls not in self.class_names:
                raise ModelError(f"class_codes names {cls!r}, which is not in class_names")
            if isinstance(code, str) or not isinstance(code, Sequence) or len(code) != 3 or \
                    not all(isinstance(c, str) and c.strip() for c in code):
                raise ModelError(f"class_codes of {cls!r} must be [CodeValue, "
                                 "CodingSchemeDesignator, CodeMeaning]")
            codes[cls] = (code[0], code[1], code[2])
        object.__setattr__(self, "class_codes", MappingProxyType(codes))
        records = {}
        for method, record in self.calibration.items():
            if method not in scales or not isinstance(record, Mapping):
                raise ModelError("calibration records need a matching cam_scale entry")
            records[method] = MappingProxyType(dict(record))
        object.__setattr__(self, "calibration", MappingProxyType(records))

    def scale_for(self, method: str) -> float | None:
        """The calibrated raw value shown as 1.0 for ``method``, or ``None``."""
        return self.cam_scale.get(method)

    def _check_fit_fields(self) -> None:
        parts = [self.body_parts] if isinstance(self.body_parts, str) else self.body_parts
        object.__setattr__(self, "body_parts", tuple(str(p).strip().upper() for p in parts))
        cover = self.min_coverage_mm
        cover = (cover,) if isinstance(cover, (int, float)) else tuple(cover)
        if len(cover) not in (0, 1, self.spatial_dims) or not all(
                isinstance(c, (int, float)) and math.isfinite(c) and c > 0 for c in cover):
            raise ModelError("min_coverage_mm needs one positive mm value, or one per "
                             "spatial dimension")
        object.__setattr__(self, "min_coverage_mm", tuple(float(c) for c in cover))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base_dir: Path | None = None) -> ModelSpec:
        """Build a spec from parsed JSON/TOML; ``weights`` is relative to ``base_dir``."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError(f"unknown model spec keys: {', '.join(unknown)}")
        missing = sorted(k for k in ("name", "version", "weights", "sha256", "class_names",
                                     "spatial_dims", "input_size", "input_spacing")
                         if k not in data)
        if missing:
            raise ModelError(f"model spec lacks: {', '.join(missing)}")
        values = dict(data)
        weights = Path(str(values["weights"]))
        if base_dir is not None and not weights.is_absolute():
            weights = base_dir / weights
        values["weights"] = weights
        if "intensity" in values:
            if not isinstance(values["intensity"], Mapping):
                raise ModelError("intensity must be a table/object")
            values["intensity"] = IntensityWindow(**values["intensity"])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ModelError(f"invalid model spec: {exc}") from exc

    @classmethod
    def from_file(cls, path: Path) -> ModelSpec:
        """Read a ``.json`` or ``.toml`` spec file."""
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read model spec {path.name}: {exc.strerror}") from exc
        try:
            if path.suffix.lower() == ".toml":
                data = tomllib.loads(text.decode("utf-8"))
            else:
                data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelError(f"model spec {path.name} is not valid JSON/TOML") from exc
        if not isinstance(data, dict):
            raise ModelError(f"model spec {path.name} must hold an object")
        return cls.from_mapping(data, base_dir=path.parent)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``weights`` as its file name)."""
        return {
            "name": self.name, "version": self.version, "weights": self.weights.name,
            "sha256": self.sha256, "class_names": list(self.class_names),
            "spatial_dims": self.spatial_dims, "input_size": list(self.input_size),
            "input_spacing": list(self.input_spacing), "network": self.network,
            "network_args": dict(self.network_args), "format": self.format,
            "intensity": {"mode": self.intensity.mode, "low": self.intensity.low,
                          "high": self.intensity.high},
            "target_layer": self.target_layer, "modalities": list(self.modalities),
            "outside_value": self.outside_value, "description": self.description,
            "positive_class": self.positive_class, "cam_scale": dict(self.cam_scale),
            "class_codes": {k: list(v) for k, v in self.class_codes.items()},
            "calibration": {k: dict(v) for k, v in self.calibration.items()},
            "body_parts": list(self.body_parts), "min_coverage_mm": list(self.min_coverage_mm),
        }
