"""``run_batch``: plan, skip what is done, dispatch the rest, write the manifest.

Resume rules for a series already in ``manifest.jsonl`` with the same model (name,
version, weights sha256) and method:

* ``done`` and the same listing key, and its output folder's ``summary.json``
  holds the recorded job key: kept, not opened again;
* ``failed`` and the same listing key: kept, unless ``retry_failed``;
* anything else (new or changed input, other model or method, outputs missing,
  ``--push`` not yet stored) goes to a worker, which hashes the input and adopts
  an existing output folder of the same job key instead of recomputing.

Series decided at plan time (non-image series, series of broken headers, or a
modality the model does not accept) are recorded as ``skipped`` or ``failed``.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from medcam.batch.dicomweb import is_dicomweb_url, plan_dicomweb
from medcam.batch.engines import ENGINES
from medcam.batch.manifest import Journal, ManifestEntry
from medcam.batch.plan import Plan, PlannedOutcome, plan_folder
from medcam.batch.progress import Progress
from medcam.batch.push import PushTarget, parse_push, pushed
from medcam.batch.scancache import ScanCache
from medcam.batch.schedule import Engine, dispatch, series_crash
from medcam.batch.units import ModelIdentity, WorkUnit, job_key, json_line
from medcam.batch.worker import STATE_DIR, SUMMARY, JobConfig, Outcome, failed_entry
from medcam.durable import append_line
from medcam.errors import BatchError, NoImageSeriesError, NotDicomError, WeightsMismatchError
from medcam.export.result_set import ALL_OUTPUTS, parse_outputs
from medcam.export.types import ObjectKind

__all__ = ["ENGINES", "BatchOptions", "BatchReport", "run_batch"]

MANIFEST = "manifest.jsonl"
SCAN_CACHE = "scan-cache.jsonl"
RUNS = "runs.jsonl"


@dataclass(frozen=True)
class BatchOptions:
    """A batch run, as the ``medcam batch`` command takes it.

    Args:
        archive: a folder (or file) of DICOM files, or a DICOMweb base URL.
        out_dir: the output folder.
        model: built-in model name or spec/TorchScript file.
        method: CAM method.
        workers: worker processes (local) or actors (ray).
        engine: ``local`` or ``ray``.
        ray_address: address of a running Ray cluster (ray engine only).
        device: ``cpu`` or ``cuda`` (``cuda:N`` for one GPU).
        retry_failed: process again the series that failed before.
        query: QIDO-RS query for a DICOMweb archive, e.g. ``ModalitiesInStudy=CT``.
        push: where to send the outputs (``dicom://AET@host:port`` or a DICOMweb URL).
        calling_aet: our AE title for a DIMSE push.
        preview: write ``preview.png`` per series.
        progress: show progress on stderr.
        outputs: the kinds of output object per series (``sc``, ``pm``, ``seg``,
            ``sr``, ``ko``; default all).

    """

    archive: str | Path
    out_dir: Path
    model: str = "demo-ct3d"
    method: str = "gradcam"
    workers: int = 1
    engine: str = "local"
    ray_address: str | None = None
    device: str = "cpu"
    retry_failed: bool = False
    query: str | None = None
    push: str | None = None
    calling_aet: str = "MEDCAM"
    preview: bool = False
    progress: bool = False
    outputs: tuple[ObjectKind, ...] = ALL_OUTPUTS

    def __post_init__(self) -> None:
        object.__setattr__(self, "outputs", parse_outputs(self.outputs))


@dataclass(frozen=True)
class BatchReport:
    """The final manifest of a run and what this run did."""

    entries: tuple[ManifestEntry, ...]
    stats: Mapping[str, int] = field(default_factory=dict)
    manifest: Path = Path()
    phases: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stats", MappingProxyType(dict(self.stats)))
        object.__setattr__(self, "phases", MappingProxyType(dict(self.phases)))

    @property
    def series_per_min(self) -> float | None:
        """Series processed per minute once the workers were up (``None``: none)."""
        busy = self.phases.get("process_s", 0.0)
        n = self.stats.get("processed", 0) + self.stats.get("adopted", 0)
        return 60.0 * n / busy if busy > 0 and n else None

    @property
    def n_failed(self) -> int:
        """Series whose entry is ``failed``."""
        return sum(e.status == "failed" for e in self.entries)


def _check_options(o: BatchOptions) -> None:
    if o.engine not in ENGINES:
        raise BatchError(f"unknown engine {o.engine!r}; use one of {', '.join(ENGINES)}")
    if o.workers < 1:
        raise BatchError("--workers must be at least 1")
    if o.ray_address and o.engine != "ray":
        raise BatchError("--ray-address needs --engine ray")
    if not (o.device == "cpu" or o.device == "cuda" or o.device.startswith("cuda:")):
        raise BatchError(f"unknown device {o.device!r}; use cpu or cuda")
    if o.device != "cpu" and o.engine == "local":
        import torch

        if not torch.cuda.is_available():
            raise BatchError(f"--device {o.device} was given but no CUDA GPU is visible")


def _check_model(o: BatchOptions) -> tuple[ModelIdentity, tuple[str, ...]]:
    """Fail early (before any worker) on an unknown model or method, or bad weights."""
    from medcam import cam
    from medcam.model.load import resolve_spec, sha256_file

    spec = resolve_spec(o.model)
    cam.describe(o.method)
    if spec.weights.is_file() and sha256_file(spec.weights) != spec.sha256:
        raise WeightsMismatchError(f"weights {spec.weights.name} do not match the sha256 in "
                                   f"model spec {spec.name}")
    return ModelIdentity.of(spec), tuple(spec.modalities)


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


def _planned(o: PlannedOutcome, model: ModelIdentity, method: str) -> ManifestEntry:
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


def _keep(prior: ManifestEntry | None, unit: WorkUnit, model: ModelIdentity,
          o: BatchOptions, push: PushTarget | None) -> bool:
    if prior is None or (prior.model, prior.method, prior.listing_key) != (
            model, o.method, unit.listing_key):
        return False
    if prior.status == "failed":
        return not o.retry_failed
    if prior.status != "done" or not _outputs_present(Path(o.out_dir), prior):
        return False
    if prior.job_key != job_key(str(prior.content_key), model, o.method, o.outputs):
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


def _triage(plan: Plan, prior: Mapping[str, ManifestEntry], model: ModelIdentity,
            modalities: tuple[str, ...], o: BatchOptions, push: PushTarget | None,
            ) -> tuple[dict[str, ManifestEntry], list[WorkUnit], Counter[str]]:
    """Entries decided without a worker, the units to dispatch, and counts."""
    entries = {p.key: _planned(p, model, o.method) for p in plan.outcomes}
    stats: Counter[str] = Counter(series=len(plan.units) + len(plan.outcomes), kept=0,
                                  processed=0, adopted=0)
    todo = []
    for unit in plan.units:
        if modalities and unit.modality not in modalities:
            entries[unit.key] = _planned(PlannedOutcome(
                unit.key, unit.study_instance_uid, unit.series_instance_uid, unit.modality,
                "skipped", "modality_not_accepted",
                f"model {model.name} accepts {'/'.join(modalities)}", unit.n_instances),
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
    _check_options(o)
    model, modalities = _check_model(o)
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
        entries, todo, stats = _triage(plan, journal.replay(), model, modalities, o, push)
        progress = Progress(len(todo), enabled=o.progress)

        def record(outcome: Outcome) -> None:
            entry = outcome.entry
            journal.append(entry)
            entries[entry.key] = entry
            stats["adopted" if outcome.adopted else "processed"] += 1
            progress.update(entry.status)

        config = JobConfig(o.model, o.method, out_dir, o.device, o.preview, push, o.outputs)
        if todo:
            engine = _engine(o, config)
            try:
                t_start = time.monotonic()
                engine.start()
                t_ready = time.monotonic()
                phases["start_s"] = t_ready - t_start
                dispatch(engine, todo, record,
                         lambda u: failed_entry(u, model, o.method, series_crash()))
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
        _log_run(out_dir, o, model, plan, cache, report, started)
    return report


def _log_run(out_dir: Path, o: BatchOptions, model: ModelIdentity, plan: Plan,
             cache: ScanCache, report: BatchReport, started: datetime) -> None:
    """Append this run's counts to ``runs.jsonl`` (no paths: they may name patients)."""
    rate = report.series_per_min
    line = {"started": started.isoformat(timespec="seconds"),
            "phases_s": {k: round(v, 3) for k, v in report.phases.items()},
            "engine": o.engine, "workers": o.workers, "device": o.device,
            "model": model.to_dict(), "method": o.method, "retry_failed": o.retry_failed,
            "files": dict(plan.counts), "headers_read": cache.n_parsed,
            "series": dict(report.stats),
            "series_per_min": None if rate is None else round(rate, 2)}
    append_line(out_dir / RUNS, json_line(line))
