"""Explain every image series under a folder and write the results atomically.

Layout of the output folder::

    OUT/summary.json                 one entry per series found (done or failed)
    OUT/preview.png                  montage of the hottest slices of the first series
    OUT/<SeriesInstanceUID>/IM000001.dcm ...   Secondary Capture heatmap series
    OUT/<SeriesInstanceUID>/PM000001.dcm       Parametric Map (SEG00001, SR000001,
                                               KO000001: the rest of the result set;
                                               see medcam.export.result_set)
    OUT/<SeriesInstanceUID>/preview.png

Everything is first written to a staging folder beside ``OUT`` and moved into place
series by series once complete, so an interrupted or failed run never leaves a
half-written series, and nothing at all when no series could be explained. Staging
folders of runs that were killed are swept before a run starts
(:mod:`medcam.staging`). Each series entry of ``summary.json`` lists ``warnings``:
what the reader accepted but noticed (:mod:`medcam.series.completeness`) and a model
grid that covers less than 90 % of the series (:mod:`medcam.model.fit`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from medcam.durable import publish_directory, replace_file, write_file_atomic, write_synced
from medcam.errors import MedcamError
from medcam.explanation import Explanation, ScaleChoice, explain, resolve_scale
from medcam.export.result_set import (
    ALL_OUTPUTS,
    ExportedSeries,
    ExportOptions,
    export_series,
    heatmap_info,
    parse_outputs,
)
from medcam.export.uids import safe_folder_name
from medcam.model.cache import ModelCache
from medcam.model.fit import check_fit, coverage_warnings, fit_warnings
from medcam.model.load import LoadedModel
from medcam.routing import Routes
from medcam.series import SeriesRef, read_series
from medcam.series.scan import no_series_error, scan_series
from medcam.series.stack import GEOMETRY_TOLERANCE
from medcam.series.types import Series
from medcam.staging import staging_dir, sweep_stale

__all__ = ["RunReport", "SeriesResult", "explain_folder", "safe_folder_name", "series_result"]

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
    outputs: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()
    preview: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    model: str | None = None
    rule: str | None = None
    skipped: str | None = None


@dataclass(frozen=True)
class RunReport:
    """All series of one run."""

    results: tuple[SeriesResult, ...]

    @property
    def n_failed(self) -> int:
        """Number of series that could not be explained."""
        return sum(r.error is not None for r in self.results)


def series_result(series: Series, exp: Explanation, exported: ExportedSeries,
                  read_s: float = 0.0, warnings: tuple[str, ...] = ()) -> SeriesResult:
    """The run record of one explained series, from what its export wrote.

    Args:
        series: the source series.
        exp: its explanation.
        exported: the objects written (their folder is the one published, relative
            to the run's output folder).
        read_s: seconds spent reading the series (recorded under ``read``).
        warnings: notes beyond the series' own ``warnings`` (both are recorded).

    """
    rel = Path(exported.folder.name)
    sc = exported.of_kind("sc")
    return SeriesResult(
        series_instance_uid=series.series_instance_uid,
        study_instance_uid=series.study_instance_uid, modality=series.modality,
        model=exp.model.name, target=exp.target, probability=exp.probability,
        probabilities=dict(exp.probabilities),
        output_series_instance_uid=sc[0].series_instance_uid if sc else None,
        files=tuple(str(rel / o.path.name) for o in exported.objects),
        outputs=tuple({**d, "file": str(rel / d["file"])} for d in exported.describe()),
        notes=exported.notes,
        output_series_description=heatmap_info(exp).series_description, target_rule=exp.target_rule,
        raw_max=exp.raw_max, source_peak=exp.source_peak,
        scale={"mode": exp.scale.mode, "value": exp.scale.value, "note": exp.scale.note},
        shown_max=exp.values_max,
        preview=str(rel / "preview.png") if exported.preview else None,
        timings={"read": read_s, **exp.timings, **exported.timings,
                 "export": sum(exported.timings.values())},
        warnings=series.warnings + tuple(warnings),
    )


def _explain_one(ref: SeriesRef, how: _How, target_layer: str | None, device: str,
                 staging: Path, scale: ScaleChoice, read: dict[str, Any],
                 force: bool) -> SeriesResult:
    loaded, method, target, options = how.loaded, how.method, how.target, how.options
    t0 = time.perf_counter()
    series = read_series(ref, **read)
    t_read = time.perf_counter() - t0
    if not force:
        check_fit(series, loaded.spec)
    exp = explain(series, loaded, method, target, target_layer=target_layer, device=device,
                  scale=scale)
    folder = staging / safe_folder_name(series.series_instance_uid)
    notes = fit_warnings(series, loaded.spec) + coverage_warnings(series.geometry, exp.grid)
    result = series_result(series, exp, export_series(series, exp, folder, options), t_read,
                           notes)
    return replace(result, rule=how.rule) if how.rule else result


@dataclass(frozen=True)
class _How:
    """How one series is explained: the model, method, target and export options."""

    loaded: LoadedModel
    method: str
    target: str | None
    options: ExportOptions
    rule: str | None = None


class _Router:
    """Per series: ``model`` and the settings, or the model a rule picks (on first use)."""

    def __init__(self, routes: Routes | None, model: str, method: str, target: str | None,
                 options: ExportOptions, models: ModelCache, scale: ScaleChoice) -> None:
        from medcam.routing import check_models

        self.routes, self.models, self.scale = routes or Routes(()), models, scale
        self.method, self.target, self.options = method, target, options
        self.fixed: _How | None = None
        if routes is None:
            self.fixed = _How(models.get(model), method, target, options)
            resolve_scale(self.fixed.loaded.spec, method, scale, 1.0)  # fail before reading
        else:
            check_models(routes)  # a bad file fails before any series is read

    def __call__(self, ref: SeriesRef) -> _How | SeriesResult:
        from medcam.routing import route

        if self.fixed is not None:
            return self.fixed
        decision = route(self.routes, ref)
        if decision.action == "skip" or decision.model is None:
            return SeriesResult(ref.series_instance_uid, ref.study_instance_uid, ref.modality,
                                rule=decision.rule, skipped=decision.reason,
                                warnings=ref.warnings)
        loaded = self.models.get(decision.model)
        method = decision.method or self.method
        resolve_scale(loaded.spec, method, self.scale, 1.0)  # the routed model's calibration
        options = self.options
        if decision.outputs:
            options = replace(options, outputs=parse_outputs(decision.outputs))
        return _How(loaded, method, decision.target or self.target, options, decision.rule)


def explain_folder(input_path: Path, out_dir: Path, *, model: str = "demo-ct3d",
                   method: str = "gradcam", target: str | None = None,
                   target_layer: str | None = None, device: str = "cpu",
                   outputs: str | tuple[str, ...] = ALL_OUTPUTS,
                   options: ExportOptions | None = None,
                   scale: ScaleChoice = None,
                   geometry_tolerance: float = GEOMETRY_TOLERANCE,
                   assume_pixel_spacing: float | None = None,
                   force: bool = False, routes: Routes | None = None,
                   models: ModelCache | None = None) -> RunReport:
    """Explain every image series under ``input_path`` into ``out_dir``.

    ``outputs`` chooses the objects written (``"sc,pm,seg,sr,ko"``); ``options``,
    when given, sets every export option (its ``outputs`` win).
    ``geometry_tolerance`` and ``assume_pixel_spacing`` go to
    :func:`~medcam.series.read_series`; ``force`` skips the model's body-part and
    field-of-view checks (:func:`~medcam.model.fit.check_fit`).

    ``target`` and ``scale`` are those of :func:`medcam.explain` (default: the
    model's positive class, at its calibrated scale where it has one).

    ``routes`` (:mod:`medcam.routing`) chooses the model of each series instead of
    ``model``; a rule's method, target and outputs replace the arguments'. A series a
    rule skips, or no rule matches, is recorded with ``skipped`` (never a failure).
    Only the models the rules pick are loaded, on first use, through ``models`` (a
    :class:`~medcam.model.cache.ModelCache`; default: one for this call), which a
    long-lived caller passes to keep models between calls; ``model`` is then unused.

    Raises:
        MedcamError: nothing could be explained (bad path, no image series, every
            series failed); the error of the first series is re-raised and nothing
            is written.

    """
    options = options or ExportOptions(outputs=parse_outputs(outputs))
    from medcam import cam

    cam.describe(method)  # unknown method: fail before reading anything
    router = _Router(routes, model, method, target, options,
                     models if models is not None else ModelCache(device=device), scale)
    refs, scanned = scan_series(input_path)
    if not refs:
        raise no_series_error(scanned)
    out_dir = Path(out_dir)
    sweep_stale(out_dir)
    staging = staging_dir(out_dir)
    staging.mkdir(parents=True, exist_ok=False)
    read = {"geometry_tolerance": geometry_tolerance,
            "assume_pixel_spacing": assume_pixel_spacing}
    try:
        results, first_error = [], None
        for ref in refs:
            try:
                how = router(ref)
                if isinstance(how, SeriesResult):
                    results.append(how)
                    continue
                results.append(_explain_one(ref, how, target_layer, device, staging, scale,
                                            read, force))
            except MedcamError as exc:
                first_error = first_error or exc
                results.append(SeriesResult(ref.series_instance_uid, ref.study_instance_uid,
                                            ref.modality, error=str(exc),
                                            error_type=type(exc).__name__,
                                            warnings=ref.warnings))
        if first_error is not None and all(r.error or r.skipped for r in results):
            raise first_error
        _publish(staging, out_dir, results, router.fixed.loaded if router.fixed else None,
                 method, routes)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RunReport(tuple(results))


def _publish(staging: Path, out_dir: Path, results: list[SeriesResult],
             loaded: LoadedModel | None, method: str, routes: Routes | None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    done = [r for r in results if r.error is None and r.skipped is None]
    for r in done:
        name = Path(r.files[0]).parts[0] if r.files else None
        if name is None:
            continue
        old = out_dir / f".{name}.old-{os.getpid()}"
        publish_directory(staging / name, out_dir / name, old)
        shutil.rmtree(old, ignore_errors=True)
    if done and done[0].preview:
        write_synced(staging / "preview.png", (out_dir / done[0].preview).read_bytes())
        replace_file(staging / "preview.png", out_dir / "preview.png")
    spec = None if loaded is None else loaded.spec  # routed: each series names its model
    summary: dict[str, Any] = {
        "schema_version": SUMMARY_SCHEMA, "model": spec and spec.name,
        "model_version": spec and spec.version, "model_sha256": spec and spec.sha256,
        "method": method, "routes": None if routes is None else routes.source,
        "series": [asdict(r) for r in results],
    }
    write_file_atomic(out_dir / "summary.json",
                      (json.dumps(summary, indent=2, sort_keys=True, allow_nan=False)
                       + "\n").encode())
