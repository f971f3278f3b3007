"""``run_batch``: plan, skip what is done, dispatch the rest, write the manifest.

Resume rules for a series already in ``manifest.jsonl`` with the same model (name,
version, weights sha256) and method:

* ``done`` and the same listing key, and its output folder's ``summary.json``
  holds the recorded job key: kept, not opened again;
* ``failed`` and the same listing key: kept, unless ``retry_failed``;
* anything else (new or changed input, other model or method, outputs missing,
  ``--push`` not yet stored) goes to a worker, which hashes the input and adopts
  an existing output folder of the same job key instead of recomputing.

Series decided at plan time (non-image series, series of broken headers, a
modality the model does not accept, or a routed run's skips: :mod:`.routed`) are
recorded as ``skipped`` or ``failed``. In a routed run the model, method and
routing decision compared are the unit's own.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from medcam.batch.dicomweb import is_dicomweb_url, plan_dicomweb
from medcam.batch.engines import ENGINES
from medcam.batch.manifest import Journal, ManifestEntry
from medcam.batch.options import BatchOptions, BatchReport, check_options
from medcam.batch.plan import Plan, PlannedOutcome, plan_folder
from medcam.batch.progress import Progress
from medcam.batch.push import PushTarget, parse_push, pushed
from medcam.batch.routed import RunModels, check_run_models, route_unit, unit_job
from medcam.batch.scancache import ScanCache
from medcam.batch.schedule import Engine, dispatch, series_crash
from medcam.batch.units import ModelIdentity, WorkUnit, job_key, json_line
from medcam.batch.worker import STATE_DIR, SUMMARY, JobConfig, Outcome, failed_entry
from medcam.durable import append_line
from medcam.errors import BatchError, NoImageSeriesError, NotDicomError

__all__ = ["ENGINES", "BatchOptions", "BatchReport", "run_batch"]

MANIFEST = "manifest.jsonl"
SCAN_CACHE = "scan-cache.jsonl"
RUNS = "runs.jsonl"


@contextmanager
def _locked(out_dir: Path) -> Iterator[Path]:
    state = out_dir / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise BatchError("another medcam batch run is using this output folder") from exc
        shutil.rmtree(state / "staging", ignore_errors=True)  # left by a killed run
        shutil.rmtree(state / "spool", ignore_errors=True)
        yield state


def _planned(o: PlannedOutcome, model: ModelIdentity | None, method: str) -> ManifestEntry:
    return ManifestEntry(key=o.key, study_instance_uid=o.study_instance_uid,
                         series_instance_uid=o.series_instance_uid, modality=o.modality,
                         status=o.status, model=model, method=method,
                         n_instances=o.n_instances, reason=o.reason, message=o.message)


def _outputs_present(out_dir: Path, entry: ManifestEntry) -> bool:
    try:
        data = json.loads((out_dir / str(entry.output_dir) / SUMMARY).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("job_key") == entry.job_key


def _keep(prior: ManifestEntry | None, unit: WorkUnit, default: ModelIdentity | None,
          o: BatchOptions, push: PushTarget | None) -> bool:
    model, method, outputs = unit_job(unit, default, o.method, o.outputs)
    route = None if unit.route is None else unit.route.to_dict()
    if model is None or prior is None or (
            prior.model, prior.method, prior.listing_key, prior.route) != (
            model, method, unit.listing_key, route):
        return False
    if prior.status == "failed":
        return not o.retry_failed
    if prior.status != "done" or not _outputs_present(Path(o.out_dir), prior):
        return False
    if prior.job_key != job_key(str(prior.content_key), model, method, outputs, unit.route):
        return False  # other output kinds were asked for
    if push is not None:
        return pushed(prior, push)
    return True


def _plan(o: BatchOptions, cache: ScanCache) -> Plan:
    if is_dicomweb_url(str(o.archive)):
        return plan_dicomweb(str(o.archive), o.query)
    if o.query:
        raise BatchError("--query needs a DICOMweb URL as the archive")
    return plan_folder(Path(o.archive), exclude=Path(o.out_dir).absolute(), cache=cache)


def _engine(o: BatchOptions, config: JobConfig) -> Engine:
    if o.engine == "ray":
        from medcam.batch.engines.ray import RayEngine

        return RayEngine(config, o.workers, o.ray_address)
    from medcam.batch.engines.local import LocalEngine

    return LocalEngine(config, o.workers)


def _triage(plan: Plan, prior: Mapping[str, ManifestEntry], models: RunModels,
            o: BatchOptions, push: PushTarget | None,
            ) -> tuple[dict[str, ManifestEntry], list[WorkUnit], Counter[str]]:
    """Entries decided without a worker, the units to dispatch, and counts."""
    model, modalities = models.default, models.modalities
    entries = {p.key: _planned(p, model, o.method) for p in plan.outcomes}
    if models.routes is not None:  # decided before any rule: recorded as such
        entries = {k: e.with_changes(route={"action": "skip", "reason": e.reason})
                   if e.status == "skipped" else e for k, e in entries.items()}
    stats: Counter[str] = Counter(series=len(plan.units) + len(plan.outcomes), kept=0,
                                  processed=0, adopted=0)
    todo = []
    for planned in plan.units:
        unit = route_unit(planned, models, o.method)
        if isinstance(unit, ManifestEntry):
            entries[unit.key] = unit
        elif modalities and unit.modality not in modalities:
            entries[unit.key] = _planned(PlannedOutcome(
                unit.key, unit.study_instance_uid, unit.series_instance_uid, unit.modality,
                "skipped", "modality_not_accepted",
                f"model {model and model.name} accepts {'/'.join(modalities)}",
                unit.n_instances),
                model, o.method)
        elif _keep(prior.get(unit.key), unit, model, o, push):
            entries[unit.key] = prior[unit.key].with_changes(warnings=unit.warnings)
            stats["kept"] += 1
        else:
            todo.append(unit)
    return entries, todo, stats


def run_batch(o: BatchOptions) -> BatchReport:
    """Explain every image series of an archive, resumably (see the module docstring).

    Raises:
        MedcamError: bad options, model or archive, the output folder is in use, or
            the engine cannot start. A series that fails never raises: it is
            recorded as ``failed``.

    """
    check_options(o)
    models = check_run_models(o.model, o.method, o.routes)
    push = parse_push(o.push, o.calling_aet) if o.push else None
    if o.engine == "ray":
        from medcam.batch.engines.ray import import_ray

        import_ray(local_only=o.ray_address is None)
    if not is_dicomweb_url(str(o.archive)) and not Path(o.archive).exists():
        raise NotDicomError("the archive path does not exist")
    out_dir = Path(o.out_dir).absolute()
    started, t0 = datetime.now(UTC), time.monotonic()
    cache = ScanCache(out_dir / STATE_DIR / SCAN_CACHE)
    plan = _plan(o, cache)  # read-only; before the lock, so bad input leaves nothing behind
    if not plan.units and not plan.outcomes:
        c = plan.counts
        raise NoImageSeriesError(
            f"no DICOM series in the archive ({c['files']} files: {c['not_dicom']} not "
            f"DICOM, {c['corrupt']} unreadable, {c['no_series_uid']} without series)")
    phases = {"plan_s": time.monotonic() - t0}
    with _locked(out_dir):
        cache.save()
        journal = Journal(out_dir / MANIFEST)
        entries, todo, stats = _triage(plan, journal.replay(), models, o, push)
        progress = Progress(len(todo), enabled=o.progress)

        def record(outcome: Outcome) -> None:
            entry = outcome.entry
            journal.append(entry)
            entries[entry.key] = entry
            stats["adopted" if outcome.adopted else "processed"] += 1
            progress.update(entry.status)

        config = JobConfig(o.model, o.method, out_dir, o.device, o.preview, push, o.outputs,
                           routed=o.routes is not None, cache_mb=o.cache_mb)
        if todo:
            engine = _engine(o, config)
            try:
                t_start = time.monotonic()
                engine.start()
                t_ready = time.monotonic()
                phases["start_s"] = t_ready - t_start
                dispatch(engine, todo, record,
                         lambda u: failed_entry(u, models.default, o.method,
                                                series_crash()))
                phases["process_s"] = time.monotonic() - t_ready
            finally:
                engine.close()
                progress.close()
                journal.close()
        journal.compact(entries.values())
        final = tuple(sorted(entries.values(), key=lambda e: e.sort_key))
        for status in ("done", "failed", "skipped"):
            stats[status] = sum(e.status == status for e in final)
        phases["total_s"] = time.monotonic() - t0
        report = BatchReport(final, stats, out_dir / MANIFEST, phases)
        _log_run(out_dir, o, models.default, plan, cache, report, started)
    return report


def _log_run(out_dir: Path, o: BatchOptions, model: ModelIdentity | None, plan: Plan,
             cache: ScanCache, report: BatchReport, started: datetime) -> None:
    """Append this run's counts to ``runs.jsonl`` (no paths: they may name patients)."""
    rate = report.series_per_min
    line = {"started": started.isoformat(timespec="seconds"),
            "phases_s": {k: round(v, 3) for k, v in report.phases.items()},
            "engine": o.engine, "workers": o.workers, "device": o.device,
            "model": model and model.to_dict(), "method": o.method,
            "routes": o.routes and o.routes.source, "retry_failed": o.retry_failed,
            "files": dict(plan.counts), "headers_read": cache.n_parsed,
            "series": dict(report.stats),
            "series_per_min": None if rate is None else round(rate, 2)}
    append_line(out_dir / RUNS, json_line(line))
