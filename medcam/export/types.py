"""Value types of the DICOM export: what was explained, and what was written."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, get_args

from medcam import __version__
from medcam.export.uids import is_valid_uid

__all__ = ["BANNER", "SCALE_NOTE", "CamScale", "ExportedObject", "HeatmapInfo", "ObjectKind",
           "ScaleMode"]

#: First burned-in line and start of every Series Description.
BANNER = "AI heatmap - not for diagnostic use"
#: What the colour scale means in ``volume`` mode; burned in under the legend.
SCALE_NOTE = "relative activation, normalised per volume"
#: The same in ``calibrated`` mode.
CALIBRATED_NOTE = "calibrated activation, 1 = model's reference level"

ScaleMode = Literal["calibrated", "volume"]
#: Kinds of DICOM object medcam writes: Secondary Capture, Parametric Map,
#: Segmentation, Comprehensive 3D SR (TID 1500), Key Object Selection.
ObjectKind = Literal["sc", "pm", "seg", "sr", "ko"]

# Printable ASCII without "\" (a DICOM value delimiter) and "~" (differs in
# ISO_IR 13 / JIS X 0201), so the text encodes identically in every character set
# the source may declare and renders with the default font.
_TEXT_RE = re.compile(r"^[\x20-\x5b\x5d-\x7d]+$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_LO_MAX = 64


def _check_text(name: str, value: object, max_len: int = _LO_MAX) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"`{name}` must be a non-empty string")
    if len(value) > max_len or not _TEXT_RE.match(value):
        raise ValueError(f"`{name}` must be at most {max_len} printable ASCII characters "
                         "without '\\' or '~'")


@dataclass(frozen=True)
class CamScale:
    """How raw map values become the displayed 0-1 scale: ``shown = raw / value``.

    Args:
        mode: ``"calibrated"``: ``value`` is the model's reference level for the
            method (the spec's ``cam_scale``), so a study without evidence stays cold
            and values above 1 clip in displays; ``"volume"``: ``value`` is the
            series' own map maximum (every study's hottest voxel shows as 1).
        value: the raw map value shown as 1.0 (finite, > 0).

    """

    mode: ScaleMode
    value: float

    def __post_init__(self) -> None:
        if self.mode not in get_args(ScaleMode):
            raise ValueError(f"scale mode must be one of {get_args(ScaleMode)}")
        v = float(self.value)
        if not (math.isfinite(v) and v > 0.0):
            raise ValueError("scale `value` must be finite and > 0")
        object.__setattr__(self, "value", v)

    @property
    def note(self) -> str:
        """What 1.0 means, for legends and descriptions."""
        return CALIBRATED_NOTE if self.mode == "calibrated" else SCALE_NOTE


@dataclass(frozen=True)
class HeatmapInfo:
    """What produced a heatmap; the only text medcam burns in or describes.

    Args:
        model_name: model name from the model spec, e.g. ``"demo-ct3d"``.
        model_version: model version, e.g. ``"1.0"``.
        model_sha256: sha256 of the weights, 64 hex digits.
        method: CAM method name, e.g. ``"gradcam"``.
        target_class: name of the explained class, e.g. ``"lesion"``.
        probability: the model's probability for ``target_class``, in [0, 1].
        raw_max: the heatmap maximum before per-volume normalisation, if known.
        software_version: medcam version recorded in Software Versions.
        created: when the explanation was made (timezone-aware). Written as
            Content/Instance Creation/Secondary Capture date and time; when
            ``None`` the source's Content (else Study) Date/Time are used, so
            identical input always gives identical bytes.
        scale: how raw values were scaled to the map the writers receive; ``None``
            means per volume (``raw_max`` shown as 1), as before calibration existed.
        target_layers: the hooked layers (dotted names), recorded as algorithm
            parameters.

    """

    model_name: str
    model_version: str
    model_sha256: str
    method: str
    target_class: str
    probability: float
    raw_max: float | None = None
    software_version: str = __version__
    created: datetime | None = None
    scale: CamScale | None = None
    target_layers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("model_name", "model_version", "method", "target_class",
                     "software_version"):
            _check_text(name, getattr(self, name))
        if not isinstance(self.model_sha256, str) or not _SHA256_RE.match(
                self.model_sha256.lower()):
            raise ValueError("`model_sha256` must be 64 hexadecimal digits")
        object.__setattr__(self, "model_sha256", self.model_sha256.lower())
        p = float(self.probability)
        if not (math.isfinite(p) and 0.0 <= p <= 1.0):
            raise ValueError("`probability` must be a finite value in [0, 1]")
        object.__setattr__(self, "probability", p)
        if self.raw_max is not None:
            r = float(self.raw_max)
            if not (math.isfinite(r) and r >= 0.0):
                raise ValueError("`raw_max` must be a finite value >= 0")
            object.__setattr__(self, "raw_max", r)
        if self.created is not None and (not isinstance(self.created, datetime)
                                         or self.created.utcoffset() is None):
            raise ValueError("`created` must be a timezone-aware datetime")
        if self.scale is not None and not isinstance(self.scale, CamScale):
            raise ValueError("`scale` must be a CamScale")
        object.__setattr__(self, "target_layers", tuple(self.target_layers))
        for layer in self.target_layers:
            _check_text("target_layers", layer)

    @property
    def scale_mode(self) -> ScaleMode:
        """``"calibrated"`` or ``"volume"``."""
        return "volume" if self.scale is None else self.scale.mode

    @property
    def scale_note(self) -> str:
        """What 1.0 on the colour scale means."""
        return SCALE_NOTE if self.scale is None else self.scale.note

    @property
    def model_line(self) -> str:
        """Second burned-in line, e.g. ``"demo-ct3d 1.0 | gradcam | lesion p=0.97"``."""
        return (f"{self.model_name} {self.model_version} | {self.method} | "
                f"{self.target_class} p={self.probability:.2f}")

    @property
    def series_description(self) -> str:
        """Series Description (LO, at most 64 characters)."""
        text = f"AI heatmap (not for diagnostic use) {self.method} {self.target_class}"
        return text[:_LO_MAX].rstrip()

    @property
    def derivation_description(self) -> str:
        """Derivation Description (ST): model, method, class, probability and scale."""
        raw = "unknown" if self.raw_max is None else f"{self.raw_max:.6g}"
        return (f"AI heatmap, not for diagnostic use. Model {self.model_name} "
                f"{self.model_version} (weights sha256 {self.model_sha256}); method "
                f"{self.method}; class {self.target_class}; probability "
                f"{self.probability:.4f}. Colour scale {self.scale_note} "
                f"({self._scale_text(raw)}). medcam {self.software_version}.")

    def _scale_text(self, raw: str) -> str:
        if self.scale is None or self.scale.mode == "volume":
            return f"0 = none, 1 = volume maximum; raw maximum {raw}"
        return f"0 = none, 1 = raw {self.scale.value:.6g}, values above 1 clip; raw maximum {raw}"


@dataclass(frozen=True)
class ExportedObject:
    """One DICOM file written by medcam (any kind); the one record of an output file.

    Args:
        kind: which object (``sc``, ``pm``, ``seg``, ``sr``, ``ko``).
        sop_class_uid: its SOP Class UID.
        sop_instance_uid: SOP Instance UID of the written object.
        series_instance_uid: its Series Instance UID.
        path: where the file lies.
        sha256: sha256 of the file's bytes, 64 hex digits.
        size: the file's size in bytes.
        instance_number: Instance Number (1-based, in slice order for SC).
        source_sop_instance_uid: for an SC instance, the SOP Instance UID it was
            derived from; ``None`` for objects derived from the whole series.
        source_frame_number: the source frame (1-based) for multi-frame sources.

    """

    kind: ObjectKind
    sop_class_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    path: Path
    sha256: str
    size: int
    instance_number: int
    source_sop_instance_uid: str | None = None
    source_frame_number: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in get_args(ObjectKind):
            raise ValueError(f"`kind` must be one of {get_args(ObjectKind)}")
        for name in ("sop_class_uid", "sop_instance_uid", "series_instance_uid"):
            if not is_valid_uid(getattr(self, name)):
                raise ValueError(f"`{name}` is not a valid DICOM UID")
        # The source UID comes from the wild: held to non-emptiness, not to the syntax.
        if self.source_sop_instance_uid is not None and (
                not isinstance(self.source_sop_instance_uid, str)
                or not self.source_sop_instance_uid):
            raise ValueError("`source_sop_instance_uid` must be a non-empty string or None")
        if not _SHA256_RE.match(self.sha256):
            raise ValueError("`sha256` must be 64 lowercase hexadecimal digits")
        if self.size < 0:
            raise ValueError("`size` must be >= 0")
        if self.instance_number < 1:
            raise ValueError("`instance_number` must be >= 1")
        if self.source_frame_number is not None and self.source_frame_number < 1:
            raise ValueError("`source_frame_number` must be >= 1")
        object.__setattr__(self, "path", Path(self.path))
