"""Explain every image series under a folder and write the results atomically.

Layout of the output folder::

    OUT/summary.json                 one entry per series found (done or failed)
    OUT/preview.png                  montage of the hottest slices of the first series
    OUT/<SeriesInstanceUID>/IM000001.dcm ...   Secondary Capture heatmap series
    OUT/<SeriesInstanceUID>/preview.png

Everything is first written to a staging folder beside ``OUT`` and moved into place
series by series once complete, so an interrupted or failed run never leaves a
half-written series, and nothing at all when no series could be explained.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medcam.errors import MedcamError, NoImageSeriesError
from medcam.explanation import Explanation, ScaleChoice, explain, resolve_scale
from medcam.export.preview import preview_png
from medcam.export.sc import write_secondary_capture
from medcam.export.types import ExportedObject, HeatmapInfo
from medcam.export.uids import is_valid_uid
from medcam.model.load import LoadedModel, load_model
from medcam.series import SeriesRef, find_series, read_series
from medcam.series.types import Series

__all__ = ["RunReport", "SeriesResult", "explain_folder", "export_result",
           "safe_folder_name"]

SUMMARY_SCHEMA = 1


@dataclass(frozen=True)
class SeriesResult:
    """What happened to one source series (no patient data)."""

    series_instance_uid: str
    study_instance_uid: str
    modality: str
    error: str | None = None
    error_type: str | None = None
    target: str | None = None
    probability: float | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    output_series_instance_uid: str | None = None
    output_series_description: str | None = None
    target_rule: str | None = None
    raw_max: float | None = None
    source_peak: float | None = None
    scale: dict[str, Any] | None = None
    shown_max: float | None = None
    files: tuple[str, ...] = ()
    preview: str | None = None
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunReport:
    """All series of one run."""

    results: tuple[SeriesResult, ...]

    @property
    def n_failed(self) -> int:
        """Number of series that could not be explained."""
        return sum(r.error is not None for r in self.results)


def safe_folder_name(uid: str) -> str:
    """A folder name for a UID: the UID itself when valid, else a UID derived from it.

    Args:
        uid: a UID read from the input (may be empty or malformed).

    Returns:
        A name made of digits and dots only (never ``..`` or a path separator).

    """
    if is_valid_uid(uid):
        return uid
    from medcam.export.uids import derive_uid

    return derive_uid("folder", uid)


def export_result(series: Series, exp: Explanation, folder: Path, rel: Path, *,
                  preview: bool = True, read_s: float = 0.0,
                  sc_options: Mapping[str, Any] | None = None,
                  ) -> tuple[SeriesResult, tuple[ExportedObject, ...]]:
    """Write the Secondary Capture series (and preview) of an explanation.

    Args:
        series: the source series.
        exp: its explanation.
        folder: the folder to create (it must not exist or be empty).
        rel: what ``folder`` will be called relative to the published output; the
            result's file names start with it.
        preview: also write ``preview.png`` into ``folder``.
        read_s: seconds spent reading the series (recorded under ``read``).
        sc_options: keyword options of :func:`write_secondary_capture` (``opacity``,
            ``threshold``, ``compress``).

    Returns:
        The result (no patient data) and the instances written.

    Raises:
        ExportError: the export failed; nothing is left in ``folder``.

    """
    t1 = time.perf_counter()
    spec = exp.model
    info = HeatmapInfo(model_name=spec.name, model_version=spec.version,
                       model_sha256=spec.sha256, method=exp.method, target_class=exp.target,
                       probability=exp.probability, raw_max=exp.raw_max, scale=exp.scale,
                       target_layers=exp.target_layers)
    values = exp.values
    instances = write_secondary_capture(series, values, info, folder, **dict(sc_options or {}))
    if preview:
        preview_png(series, np.minimum(values, 1.0), folder / "preview.png", info=info)
    del values
    t_export = time.perf_counter() - t1
    result = SeriesResult(
        series_instance_uid=series.series_instance_uid,
        study_instance_uid=series.study_instance_uid, modality=series.modality,
        target=exp.target, probability=exp.probability,
        probabilities=dict(exp.probabilities),
        output_series_instance_uid=instances[0].series_instance_uid if instances else None,
        output_series_description=info.series_description, target_rule=exp.target_rule,
        raw_max=exp.raw_max, source_peak=exp.source_peak,
        scale={"mode": exp.scale.mode, "value": exp.scale.value, "note": exp.scale.note},
        shown_max=exp.values_max,
        files=tuple(str(rel / Path(i.path).name) for i in instances),
        preview=str(rel / "preview.png") if preview else None,
        timings={"read": read_s, **exp.timings, "export": t_export},
    )
    return result, instances


def _explain_one(ref: SeriesRef, loaded: LoadedModel, method: str, target: str | None,
                 target_layer: str | None, device: str, staging: Path, scale: ScaleChoice,
                 sc_options: Mapping[str, Any] | None) -> SeriesResult:
    t0 = time.perf_counter()
    series = read_series(ref)
    t_read = time.perf_counter() - t0
    exp = explain(series, loaded, method, target, target_layer=target_layer, device=device,
                  scale=scale)
    folder = staging / safe_folder_name(series.series_instance_uid)
    return export_result(series, exp, folder, Path(folder.name), read_s=t_read,
                         sc_options=sc_options)[0]


def explain_folder(input_path: Path, out_dir: Path, *, model: str = "demo-ct3d",
                   method: str = "gradcam", target: str | None = None,
                   target_layer: str | None = None, device: str = "cpu",
                   scale: ScaleChoice = None,
                   sc_options: Mapping[str, Any] | None = None) -> RunReport:
    """Explain every image series under ``input_path`` into ``out_dir``.

    ``target`` and ``scale`` are those of :func:`medcam.explain` (default: the
    model's positive class, at its calibrated scale where it has one);
    ``sc_options`` go to :func:`write_secondary_capture`.

    Raises:
        MedcamError: nothing could be explained (bad path, no image series, every
            series failed); the error of the first series is re-raised and nothing
            is written.

    """
    loaded = load_model(model, device=device)
    from medcam import cam

    cam.describe(method)  # unknown method: fail before reading anything
    resolve_scale(loaded.spec, method, scale, 1.0)  # no calibration: fail before reading
    refs = find_series(input_path)
    if not refs:
        raise NoImageSeriesError("no image series found under the input path")
    out_dir = Path(out_dir)
    staging = out_dir.parent / f".{out_dir.name}.staging-{os.getpid()}"
    staging.mkdir(parents=True, exist_ok=False)
    try:
        results, first_error = [], None
        for ref in refs:
            try:
                results.append(_explain_one(ref, loaded, method, target, target_layer, device,
                                            staging, scale, sc_options))
            except MedcamError as exc:
                first_error = first_error or exc
                results.append(SeriesResult(ref.series_instance_uid, ref.study_instance_uid,
                                            ref.modality, error=str(exc),
                                            error_type=type(exc).__name__))
        if all(r.error for r in results):
            assert first_error is not None
            raise first_error
        _publish(staging, out_dir, results, loaded, method)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RunReport(tuple(results))


def _publish(staging: Path, out_dir: Path, results: list[SeriesResult], loaded: LoadedModel,
             method: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    done = [r for r in results if r.error is None]
    for r in done:
        name = Path(r.files[0]).parts[0] if r.files else None
        if name is None:
            continue
        target, old = out_dir / name, out_dir / f".{name}.old-{os.getpid()}"
        if target.exists():
            target.rename(old)
        (staging / name).rename(target)
        shutil.rmtree(old, ignore_errors=True)
    if done and done[0].preview:
        shutil.copyfile(out_dir / done[0].preview, staging / "preview.png")
        (staging / "preview.png").replace(out_dir / "preview.png")
    summary: dict[str, Any] = {
        "schema_version": SUMMARY_SCHEMA, "model": loaded.spec.name,
        "model_version": loaded.spec.version, "model_sha256": loaded.spec.sha256,
        "method": method, "series": [asdict(r) for r in results],
    }
    tmp = staging / "summary.json"
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True, allow_nan=False) + "\n")
    tmp.replace(out_dir / "summary.json")
