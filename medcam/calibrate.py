"""Calibrated CAM scales: the raw map value a model's positive cases reach.

Per-volume normalisation shows every study's hottest voxel as 1, so a normal study
looks as "hot" as a true finding. A calibrated scale divides the raw map by one fixed
value per model and method, ``shown = raw / cam_scale``, measured here on a data set
of known cases (the audit layout of :mod:`medcam.audit.dataset`: one folder per case,
one image series, a DICOM SEG ground truth for the positive cases):

* every case is explained for the spec's ``positive_class`` with :func:`medcam.explain`
  and its raw map is resampled onto the case's **source grid**, where
  :attr:`medcam.Explanation.values` applies the scale;
* ``statistic="peak"`` (default): the scale is the ``percentile``-th percentile, over
  the positive cases, of each case's map maximum (``source_peak``), so with ``99`` a
  positive case's peak shows at about 1 and the strongest clip there;
* ``statistic="voxels"``: the percentile of all raw values of the positive cases,
  pooled (a per-voxel scale; at 99 it is dominated by background activation and shows
  most maxima far above 1);
* cases with a SEG are positive, cases without are negative, unless ``labels.json``
  in the data set maps case folder names to class names (or 1/0).

Negative cases are explained the same way and summarised as a separation: each
case's peak in scale units and the ROC AUC of the peaks, positives against negatives
(Mann-Whitney U / n_pos n_neg, ties counted half).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from medcam.errors import CalibrationError, MedcamError
from medcam.explanation import explain
from medcam.model.load import BUILTIN_DIR, builtin_names, load_model
from medcam.model.spec import ModelSpec

__all__ = ["Calibration", "Statistic", "calibrate", "calibrate_methods", "spec_path",
           "write_cam_scale"]

Statistic = Literal["peak", "voxels"]
#: Raw values kept per case for ``statistic="voxels"`` (every k-th voxel beyond this).
_VOXELS_PER_CASE = 1_000_000


@dataclass(frozen=True)
class Calibration:
    """A measured scale and how it was measured (no case names, no patient data).

    Args:
        model: model name; ``method`` the CAM method; ``target`` the explained class.
        statistic: ``"peak"`` or ``"voxels"``; ``percentile`` in (0, 100].
        value: the raw map value shown as 1.0 (finite, > 0).
        positive_peaks: source-grid map maxima of the positive cases (raw units).
        negative_peaks: the same for the negative cases.
        n_failed: cases that could not be read or explained.

    """

    model: str
    method: str
    target: str
    statistic: Statistic
    percentile: float
    value: float
    positive_peaks: tuple[float, ...]
    negative_peaks: tuple[float, ...] = ()
    n_failed: int = 0

    def __post_init__(self) -> None:
        if self.statistic not in ("peak", "voxels"):
            raise CalibrationError("statistic must be 'peak' or 'voxels'")
        if not 0.0 < self.percentile <= 100.0:
            raise CalibrationError("percentile must lie in (0, 100]")
        if not (math.isfinite(self.value) and self.value > 0):
            raise CalibrationError("the calibration set gives a zero map; no scale can be set")
        if not self.positive_peaks:
            raise CalibrationError("a calibration needs at least one positive case")

    def separation(self) -> dict[str, Any] | None:
        """Peaks in scale units and the ROC AUC, positives vs negatives (None without)."""
        if not self.negative_peaks:
            return None
        pos, neg = np.asarray(self.positive_peaks), np.asarray(self.negative_peaks)
        wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
        return {"auc": float(wins / (pos.size * neg.size)),
                "negative_max_shown": float(neg.max() / self.value),
                "negative_median_shown": float(np.median(neg) / self.value),
                "positive_min_shown": float(pos.min() / self.value),
                "positive_median_shown": float(np.median(pos) / self.value)}

    def record(self) -> dict[str, Any]:
        """The JSON record printed by ``medcam calibrate`` and stored in the spec."""
        return {"method": self.method, "target": self.target, "value": self.value,
                "statistic": self.statistic, "percentile": self.percentile, "grid": "source",
                "n_positive": len(self.positive_peaks), "n_negative": len(self.negative_peaks),
                "n_failed": self.n_failed, "separation": self.separation()}


def _labels(dataset: Path, spec: ModelSpec) -> dict[str, bool] | None:
    """``labels.json``: case folder name -> positive (class name, or 1/0)."""
    path = dataset / "labels.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CalibrationError("labels.json of the data set is not valid JSON") from exc
    if not isinstance(data, dict):
        raise CalibrationError("labels.json must map case folder names to class names")
    out = {}
    for case, label in data.items():
        if label in (0, 1) and not isinstance(label, bool):
            out[str(case)] = bool(label)
        elif isinstance(label, str) and label in spec.class_names:
            out[str(case)] = label == spec.positive_class
        else:
            raise CalibrationError("labels.json values must be class names of the model or 0/1")
    return out


def calibrate(dataset: Path, model: str | Path | ModelSpec, method: str = "gradcam", *,
              percentile: float = 99.0, statistic: Statistic = "peak",
              device: str = "cpu") -> Calibration:
    """Measure the calibrated scale of ``method`` for ``model`` on a data set.

    Args:
        dataset: folder with one subfolder per case (audit layout).
        model: built-in name, spec file or spec; it must declare ``positive_class``.
        method: CAM method name.
        percentile: which percentile of the statistic becomes 1.0, in (0, 100].
        statistic: ``"peak"`` (per-case maxima) or ``"voxels"`` (pooled values).
        device: torch device.

    Returns:
        The :class:`Calibration`.

    Raises:
        CalibrationError: no positive case, a bad ``labels.json`` or a zero map.
        MedcamError: the data set, model or method is unusable.

    """
    return calibrate_methods(dataset, model, (method,), percentile=percentile,
                             statistic=statistic, device=device)[method]


def calibrate_methods(dataset: Path, model: str | Path | ModelSpec, methods: Sequence[str], *,
                      percentile: float = 99.0, statistic: Statistic = "peak",
                      device: str = "cpu") -> dict[str, Calibration]:
    """:func:`calibrate` for several methods, reading each case once.

    Returns:
        method name -> :class:`Calibration`, in the order given.

    """
    from medcam import cam
    from medcam.audit.dataset import discover_cases
    from medcam.series import read_series

    if not 0.0 < float(percentile) <= 100.0:
        raise CalibrationError("percentile must lie in (0, 100]")
    if statistic not in ("peak", "voxels"):
        raise CalibrationError("statistic must be 'peak' or 'voxels'")
    if not methods:
        raise CalibrationError("give at least one CAM method")
    for method in methods:
        cam.describe(method)  # an unknown method fails before any case is read
    loaded = load_model(model, device=device)
    spec = loaded.spec
    if spec.positive_class is None:
        raise CalibrationError(f"model {spec.name} declares no positive_class to calibrate")
    cases, failed = discover_cases(Path(dataset))
    labels = _labels(Path(dataset), spec)
    peaks: dict[str, tuple[list[float], list[float]]] = {m: ([], []) for m in methods}
    pooled: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    n_failed = len(failed)
    for case in cases:
        is_positive = case.seg_path is not None if labels is None else labels.get(case.case_id)
        try:
            if is_positive is None:
                raise CalibrationError("case without a label")
            series = read_series(case.series)
            exps = [explain(series, loaded, m, spec.positive_class, device=device,
                            scale="volume") for m in methods]
        except MedcamError:
            n_failed += 1
            continue
        for method, exp in zip(methods, exps, strict=True):
            peaks[method][0 if is_positive else 1].append(exp.source_peak)
            if is_positive and statistic == "voxels":
                flat = exp.cam.ravel()
                pooled[method].append(flat[:: max(1, flat.size // _VOXELS_PER_CASE)]
                                      * np.float32(exp.source_peak))
    out = {}
    for method in methods:
        positive, negative = peaks[method]
        if not positive:
            raise CalibrationError("the data set has no usable positive case (a case with a "
                                   "SEG or labelled positive in labels.json)")
        sample = np.asarray(positive) if statistic == "peak" else np.concatenate(pooled[method])
        value = float(np.percentile(sample, float(percentile)))
        out[method] = Calibration(spec.name, method, spec.positive_class, statistic,
                                  float(percentile), value, tuple(positive), tuple(negative),
                                  n_failed)
    return out


def spec_path(model: str | Path) -> Path:
    """The JSON file of a built-in model name or a spec path.

    Raises:
        CalibrationError: ``model`` is neither a built-in name nor a ``.json`` file.

    """
    if str(model) in builtin_names():
        return BUILTIN_DIR / f"{model}.json"
    path = Path(model)
    if path.suffix.lower() != ".json" or not path.is_file():
        raise CalibrationError("--write needs a built-in model name or a .json spec file")
    return path


def write_cam_scale(path: Path, calibration: Calibration,
                    note: Mapping[str, Any] | None = None) -> None:
    """Store ``calibration`` as the spec file's ``cam_scale`` for its method (atomic).

    Args:
        path: the JSON spec file; every other key is kept as it is.
        calibration: the measured scale; its record goes to ``calibration``.
        note: more keys for the stored record (e.g. how the data set was made).

    Raises:
        CalibrationError: the file is not a JSON object or the result is not a valid spec.

    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CalibrationError("the spec file cannot be read as JSON") from exc
    if not isinstance(data, dict):
        raise CalibrationError("the spec file must hold a JSON object")
    record = {**calibration.record(), **(note or {})}
    data["cam_scale"] = {**data.get("cam_scale", {}), calibration.method: calibration.value}
    data["calibration"] = {**data.get("calibration", {}), calibration.method: record}
    try:
        ModelSpec.from_mapping(data, base_dir=Path(path).parent)
    except MedcamError as exc:
        raise CalibrationError(f"the updated spec would be invalid: {exc}") from exc
    tmp = Path(path).with_name(f".{Path(path).name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
