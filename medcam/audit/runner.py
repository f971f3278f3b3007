"""Run an audit: every case of a dataset, every CAM method, every metric.

:func:`run` returns the structure written to ``metrics.json`` (see :func:`audit`); with
``out`` it also writes ``metrics.json`` and the self-contained ``report.html``.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medcam.audit.aggregate import aggregate
from medcam.audit.config import AuditConfig
from medcam.audit.dataset import Case, discover_cases
from medcam.audit.errors import AuditError
from medcam.audit.evaluate import CaseContext, Overlay, evaluate_method
from medcam.audit.metrics.baselines import AIR_HU, default_baselines, make_baseline
from medcam.audit.progress import Progress
from medcam.audit.schema import SCHEMA, metric_parameters, metric_table
from medcam.audit.seg import read_ground_truth
from medcam.durable import write_file_atomic
from medcam.errors import MedcamError
from medcam.model.intensity import scale_intensity
from medcam.model.load import LoadedModel, load_model
from medcam.model.preprocess import prepare
from medcam.model.spec import ModelSpec
from medcam.series import read_series

__all__ = ["audit", "run"]


def _target_index(target: int | str | None, spec: ModelSpec, probs: np.ndarray) -> int:
    if target is None:
        return int(np.argmax(probs))
    if isinstance(target, str) and not target.isdigit():
        if target not in spec.class_names:
            raise AuditError(f"unknown target class {target!r}; the model has "
                             f"{', '.join(spec.class_names)}")
        return spec.class_names.index(target)
    index = int(target)
    if not 0 <= index < len(spec.class_names):
        raise AuditError(f"target index {index} out of range")
    return index


def _baselines(x: torch.Tensor, modality: str, spec: ModelSpec, spacing: tuple[float, ...],
               config: AuditConfig) -> tuple[torch.Tensor, torch.Tensor, tuple[str, str]]:
    auto = default_baselines(modality)
    kinds = (auto[0] if config.deletion_baseline == "auto" else config.deletion_baseline,
             auto[1] if config.insertion_baseline == "auto" else config.insertion_baseline)
    if modality.upper() == "CT" and spec.intensity.mode == "window":
        air = float(scale_intensity(np.array([AIR_HU], np.float32), spec)[0])
    else:
        air = float(x.min())
    made = tuple(make_baseline(x[0], k, air_value=air, sigma_mm=config.blur_sigma_mm,  # type: ignore[arg-type]
                               spacing=spacing) for k in kinds)
    return made[0], made[1], kinds


def _context(case: Case, loaded: LoadedModel, target: int | str | None, device: str,
             config: AuditConfig, sanity: bool, layer: str | None
             ) -> tuple[CaseContext, dict[str, Any]]:
    series = read_series(case.series)
    gt = read_ground_truth(case.seg_path, series) if case.seg_path is not None else None
    spec = loaded.spec
    model_input = prepare(series, spec)
    x = model_input.tensor.to(device)
    with torch.no_grad():
        probs = torch.softmax(loaded.module(x).float(), dim=1)[0].cpu().numpy()
    index = _target_index(target, spec, probs)
    grid = model_input.grid
    spacing = grid.spacing if spec.spatial_dims == 3 else grid.spacing[1:]
    del_base, ins_base, kinds = _baselines(x, series.modality, spec, spacing, config)
    ctx = CaseContext(case.case_id, series, gt, loaded.module, layer, x, grid,
                      spacing, index, del_base, ins_base, kinds, sanity)
    info = {"case": case.case_id, "series_instance_uid": series.series_instance_uid,
            "modality": series.modality, "shape": list(series.array.shape),
            "ground_truth": None if gt is None else {
                "sop_instance_uid": gt.sop_instance_uid, "segments": list(gt.segment_labels),
                "voxels": int(gt.mask.sum()), "mapping": gt.mapping},
            "target": spec.class_names[index],
            "probabilities": {n: float(p) for n, p in zip(spec.class_names, probs, strict=True)},
            "baselines": {"deletion": kinds[0], "insertion": kinds[1]}, "error": None}
    return ctx, info


def _case_results(case: Case, loaded: LoadedModel, methods: Sequence[str],
                  target: int | str | None, device: str, config: AuditConfig, sanity: bool,
                  layer: str | None, bar: Progress, overlays: list[Overlay]) -> dict[str, Any]:
    try:
        ctx, info = _context(case, loaded, target, device, config, sanity, layer)
    except MedcamError as exc:
        for method in methods:
            bar.update(f"{case.case_id} {method}")
        return {"case": case.case_id, "error": str(exc), "methods": {}}
    info["methods"] = {}
    for method in methods:
        try:
            entry, overlay = evaluate_method(ctx, method, config)
            overlays.append(overlay)
        except MedcamError as exc:
            entry = {"error": str(exc)}
        info["methods"][method] = entry
        bar.update(f"{case.case_id} {method}")
    return info


def _load(model: str | Path | ModelSpec | LoadedModel, device: str) -> LoadedModel:
    return model if isinstance(model, LoadedModel) else load_model(model, device=device)


def audit(dataset: Path | str, model: str | Path | ModelSpec | LoadedModel = "demo-ct3d",
          methods: Sequence[str] = ("gradcam",), *, target: int | str | None = None,
          target_layer: str | None = None, config: AuditConfig | None = None,
          device: str = "cpu", progress: bool = False
          ) -> tuple[dict[str, Any], list[Overlay]]:
    """Audit ``methods`` on every case; return the metrics.json structure and the overlays.

    Raises:
        DatasetError: the dataset folder is unusable.
        ModelError: the model cannot be loaded.
        AuditError: no methods, or an unknown target class.

    """
    cfg = config or AuditConfig()
    names = list(dict.fromkeys(methods))
    if not names:
        raise AuditError("give at least one CAM method")
    from medcam import cam

    for name in names:
        cam.describe(name.partition("@")[0])  # unknown names fail before any work
    cases, failed = discover_cases(Path(dataset))
    loaded = _load(model, device)
    layer = target_layer if target_layer is not None else loaded.spec.target_layer
    started = time.perf_counter()
    overlays: list[Overlay] = []
    results: list[dict[str, Any]] = []
    with Progress(len(cases) * len(names), "medcam audit", enabled=progress) as bar:
        for i, case in enumerate(cases):
            sanity = cfg.sanity and (cfg.sanity_cases is None or i < cfg.sanity_cases)
            results.append(_case_results(case, loaded, names, target, device, cfg, sanity,
                                         layer, bar, overlays))
    results += [{"case": cid, "error": err, "methods": {}} for cid, err in failed.items()]
    results.sort(key=lambda r: r["case"])
    spec = loaded.spec
    from medcam import __version__

    return {
        "schema": SCHEMA,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": {"medcam": __version__, "torch": torch.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
        "model": {"name": spec.name, "version": spec.version, "sha256": spec.sha256,
                  "target_layer": layer, "class_names": list(spec.class_names),
                  "input_size": list(spec.input_size),
                  "input_spacing": list(spec.input_spacing)},
        "dataset": {"name": Path(dataset).name, "n_cases": len(results),
                    "n_failed": sum(r["error"] is not None for r in results),
                    "n_with_ground_truth": sum(r.get("ground_truth") is not None
                                               for r in results)},
        "methods": names, "target": target, "device": device,
        "parameters": cfg.to_dict(),
        "metric_parameters": metric_parameters(cfg, spec.spatial_dims),
        "metrics": metric_table(),
        "cases": results, "aggregate": aggregate(results, names, cfg),
        "total_time_s": time.perf_counter() - started,
    }, overlays


def run(dataset: Path | str, model: str | Path | ModelSpec | LoadedModel = "demo-ct3d",
        methods: Sequence[str] = ("gradcam",), *, out: Path | str | None = None,
        target: int | str | None = None, target_layer: str | None = None,
        config: AuditConfig | None = None, device: str = "cpu", progress: bool = False
        ) -> dict[str, Any]:
    """Audit CAM methods on a dataset (the Python API of ``medcam audit``).

    Args:
        dataset: folder with one subfolder per case (image series + optional DICOM SEG).
        model: built-in name, spec file, :class:`ModelSpec` or loaded model.
        methods: CAM method names (see ``medcam methods``).
        out: if given, write ``metrics.json`` and ``report.html`` there.
        target: class name or index to explain; ``None`` explains the predicted class.
        target_layer: CAM target layer for every method (default: the model spec's).
        config: metric parameters (default :class:`AuditConfig`).
        device: torch device.
        progress: draw a progress bar on stderr.

    Returns:
        The metrics.json structure: per case, per method, and aggregated (mean and
        bootstrap interval), with every parameter.

    Raises:
        DatasetError: the dataset folder is unusable.
        ModelError: the model cannot be loaded.
        AuditError: bad methods or target.

    """
    result, overlays = audit(dataset, model, methods, target=target,
                             target_layer=target_layer, config=config, device=device,
                             progress=progress)
    if out is not None:
        from medcam.audit.report import write_report

        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        write_file_atomic(folder / "metrics.json",
                          (json.dumps(result, indent=2, allow_nan=False) + "\n").encode())
        write_report(folder / "report.html", result, overlays)
    return result
