"""What a batch worker does with one series: hash, adopt or explain, publish, push.

A :class:`SeriesProcessor` keeps its models in a bounded cache
(:class:`~medcam.model.cache.ModelCache`): the run's model, loaded at start, or in a
routed run the model each unit's rule names, loaded on first use. It is shared by
two threads of a worker (both engines run two series per worker at a time): while one series is on
the model (the only step under the processor's lock, so a GPU or the worker's one
CPU thread is used by one series at a time), the other is being read from disk
(or retrieved) or exported. One torch and one ITK thread per worker, so N workers
use N cores.

Publication is atomic: the outputs and ``summary.json`` (the manifest entry plus
the sha256 of every file) are written into a staging folder inside the batch
output, flushed, and renamed to ``<study>/<series>``; the manifest line is
appended after that. If a run dies between the two, the next run finds the folder,
checks its job key and file digests, and adopts it instead of recomputing.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from medcam.batch.manifest import ManifestEntry
from medcam.batch.push import PushTarget, push_entry
from medcam.batch.units import (
    ModelIdentity,
    WorkUnit,
    content_key,
    job_key,
    json_line,
    reason_code,
    sha256_of_file,
)
from medcam.durable import fsync_directory, publish_directory, write_synced
from medcam.errors import BatchError, MedcamError, NotDicomError
from medcam.export.result_set import ALL_OUTPUTS
from medcam.export.types import ExportedObject, ObjectKind
from medcam.model.cache import DEFAULT_BUDGET_MB, DEFAULT_MAX_MODELS, ModelCache

__all__ = ["STATE_DIR", "JobConfig", "Outcome", "SeriesProcessor", "failed_entry"]

_LOG = logging.getLogger(__name__)
#: Hidden folder of a batch output holding the lock, staging and spool folders.
STATE_DIR = ".medcam-batch"
SUMMARY = "summary.json"


@dataclass(frozen=True)
class JobConfig:
    """What every series of a run shares.

    Args:
        model: built-in model name or spec/TorchScript path.
        method: CAM method name.
        out_dir: the batch output folder.
        device: torch device of the workers (``cpu``, ``cuda``, ``cuda:1``).
        preview: also write ``preview.png`` per series.
        push: where to send the outputs.
        outputs: the kinds of output object to write (see
            :mod:`medcam.export.result_set`).
        routed: units carry their routing decision (:class:`RouteChoice`); no model
            is loaded at start.
        cache_models: most models a worker keeps (:class:`ModelCache`).
        cache_mb: memory budget of a worker's model cache, in MB.

    """

    model: str
    method: str
    out_dir: Path
    device: str = "cpu"
    preview: bool = False
    push: PushTarget | None = None
    outputs: tuple[ObjectKind, ...] = ALL_OUTPUTS
    routed: bool = False
    cache_models: int = DEFAULT_MAX_MODELS
    cache_mb: float = DEFAULT_BUDGET_MB


@dataclass(frozen=True)
class Outcome:
    """A worker's answer for one series; ``adopted``: done from existing outputs."""

    entry: ManifestEntry
    adopted: bool = False


def failed_entry(unit: WorkUnit, model: ModelIdentity | None, method: str, exc: BaseException,
                 timings: dict[str, float] | None = None) -> ManifestEntry:
    """The manifest entry of a series that failed with ``exc`` (no patient data).

    A routed unit records its rule's model and method instead of ``model``, ``method``.
    """
    message = str(exc) if isinstance(exc, MedcamError) else \
        f"unexpected {type(exc).__name__} while processing the series"
    route = unit.route
    if route is not None:
        model, method = route.model, route.method(method)
    return ManifestEntry(
        key=unit.key, study_instance_uid=unit.study_instance_uid,
        series_instance_uid=unit.series_instance_uid, modality=unit.modality,
        status="failed", model=model, method=method, n_instances=unit.n_instances,
        reason=reason_code(exc), message=message, listing_key=unit.listing_key,
        warnings=unit.warnings, timings=timings or {},
        route=None if route is None else route.to_dict())


def quiet_process() -> None:
    """Silence pydicom for the whole worker process (its messages may quote values).

    :func:`medcam.series._pydicom.quiet_pydicom` saves and restores settings, which
    is not safe with two threads reading at once; a worker sets them once instead.
    """
    from pydicom import config

    config.settings.reading_validation_mode = config.IGNORE
    logging.getLogger("pydicom").setLevel(logging.CRITICAL + 1)
    warnings.filterwarnings("ignore", module="pydicom")
    warnings.filterwarnings("ignore", module="highdicom")


class SeriesProcessor:
    """Processes series for one worker (see the module docstring).

    Args:
        config: the run's job.
        device: this worker's device (default ``config.device``).

    Raises:
        ModelError: the run's model cannot be loaded (not routed).

    """

    def __init__(self, config: JobConfig, device: str | None = None) -> None:
        import SimpleITK as sitk
        import torch

        quiet_process()
        torch.set_num_threads(1)  # one core per worker: N workers scale on N cores
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        self.config = config
        self.device = device or config.device
        self.models = ModelCache(config.cache_models, config.cache_mb, self.device)
        self._lock = threading.Lock()
        self._state = Path(config.out_dir) / STATE_DIR
        (self._state / "staging").mkdir(parents=True, exist_ok=True)
        self.identity: ModelIdentity | None = None
        if not config.routed:
            self.loaded = self.models.get(config.model)
            self.identity = ModelIdentity.of(self.loaded.spec)
            self._warm_up()

    def _job(self, unit: WorkUnit) -> tuple[str, ModelIdentity, str, tuple[ObjectKind, ...],
                                            str | None]:
        """The model, its identity, method, output kinds and target of one unit."""
        c, route = self.config, unit.route
        if route is None:
            if self.identity is None:
                raise BatchError("a unit without a routing decision in a routed run")
            return c.model, self.identity, c.method, c.outputs, None
        return (route.decision.model or c.model, route.model, route.method(c.method),
                route.outputs(c.outputs), route.decision.target)

    def _warm_up(self) -> None:
        """Explain and export a tiny synthetic series once, before the first real one.

        One-time costs (kernel selection, highdicom loading its standard tables) then
        fall in the start-up. Skipped quietly where the model does not take it.
        """
        from medcam.explanation import explain
        from medcam.export.result_set import ExportOptions, export_series
        from medcam.series import read_series
        from medcam.synthetic.archive import write_small_ct

        modalities = self.loaded.spec.modalities
        with tempfile.TemporaryDirectory(dir=self._state / "staging") as tmp:
            try:
                write_small_ct(Path(tmp) / "in", "medcam-warm-up", slices=2, size=16,
                               modality=modalities[0] if modalities else "CT")
                series = read_series(Path(tmp) / "in")
                exp = explain(series, self.loaded, self.config.method, device=self.device)
                export_series(series, exp, Path(tmp) / "out",
                              ExportOptions(outputs=self.config.outputs, preview=False))
            except (MedcamError, ValueError):
                _LOG.debug("warm-up skipped: the model does not take a small CT series")

    def process(self, unit: WorkUnit) -> Outcome:
        """Explain one series; never raises (a failure is a ``failed`` entry)."""
        t0 = time.perf_counter()
        try:
            from medcam.batch.dicomweb import materialise

            with materialise(unit, self._state / "spool") as paths:
                return self._process(unit, paths, t0)
        except Exception as exc:  # noqa: BLE001 - one series must never stop the run
            if not isinstance(exc, MedcamError):
                _LOG.warning("series %s: unexpected %s", unit.key, type(exc).__name__)
            total = time.perf_counter() - t0
            return Outcome(failed_entry(unit, self.identity, self.config.method, exc,
                                        {"total": total}))

    def _process(self, unit: WorkUnit, paths: Sequence[Path], t0: float) -> Outcome:
        from medcam.explanation import explain
        from medcam.export.result_set import ExportOptions, export_series
        from medcam.series import SeriesRef, read_series

        try:
            ckey = content_key(paths)
        except OSError as exc:
            raise NotDicomError("a file of the series could not be read") from exc
        model, identity, method, outputs, target = self._job(unit)
        jkey = job_key(ckey, identity, method, outputs, unit.route)
        dest = Path(self.config.out_dir) / unit.rel_dir
        adopted = self._adopt(dest, jkey, unit)
        if adopted is not None:
            return Outcome(self._push(adopted), adopted=True)
        t_hash = time.perf_counter()
        ref = SeriesRef(unit.series_instance_uid, unit.study_instance_uid, unit.modality,
                        tuple(paths), min(unit.n_instances, len(paths)))
        series = read_series(ref)
        loaded = self.models.get(model)  # a model that fails to load fails this unit only
        t_read = time.perf_counter()
        with self._lock:
            exp = explain(series, loaded, method, target, device=self.device)
        stage = Path(tempfile.mkdtemp(prefix="series-", dir=self._state / "staging"))
        try:
            t_explained = time.perf_counter()
            exported = export_series(series, exp, stage / "out", ExportOptions(
                outputs=outputs, preview=self.config.preview))
            rel = Path(unit.rel_dir)
            timings = {"hash": t_hash - t0, "read": t_read - t_hash, **exp.timings,
                       **exported.timings, "export": time.perf_counter() - t_explained}
            timings["total"] = time.perf_counter() - t0
            entry = ManifestEntry(
                key=unit.key, study_instance_uid=unit.study_instance_uid,
                series_instance_uid=unit.series_instance_uid, modality=unit.modality,
                status="done", model=identity, method=method,
                n_instances=unit.n_instances, listing_key=unit.listing_key,
                content_key=ckey, job_key=jkey, target=exp.target,
                probability=exp.probability, probabilities=dict(exp.probabilities),
                output_series_instance_uid=exported.series_uid("sc"),
                output_dir=str(rel), files=tuple(str(rel / o.path.name)
                                                 for o in exported.objects),
                outputs=tuple({**d, "file": str(rel / d["file"])} for d in exported.describe()),
                notes=exported.notes, warnings=unit.warnings + series.warnings,
                timings=timings, route=None if unit.route is None else unit.route.to_dict())
            _write_summary(exported.folder, entry, exported.objects, exp.provenance)
            _publish(exported.folder, dest, stage)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return Outcome(self._push(entry))

    def _adopt(self, dest: Path, jkey: str, unit: WorkUnit) -> ManifestEntry | None:
        """The entry of an existing output folder made by this job, if intact."""
        try:
            data = json.loads((dest / SUMMARY).read_text())
            if data.get("job_key") != jkey:
                return None
            for item in data.pop("instances"):
                if sha256_of_file(dest / item["file"]) != item["sha256"]:
                    return None
            data.pop("provenance", None)
            entry = ManifestEntry.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        _LOG.info("series %s: adopting its existing outputs", unit.key)
        return entry.with_changes(listing_key=unit.listing_key, warnings=unit.warnings)

    def _push(self, entry: ManifestEntry) -> ManifestEntry:
        if self.config.push is None:
            return entry
        return push_entry(self.config.push, entry, Path(self.config.out_dir))


def _write_summary(folder: Path, entry: ManifestEntry, instances: Sequence[ExportedObject],
                   provenance: Mapping[str, str]) -> None:
    data = entry.to_dict()
    data["instances"] = [{"file": Path(i.path).name, "sop_instance_uid": i.sop_instance_uid,
                          "source_sop_instance_uid": i.source_sop_instance_uid,
                          "sha256": i.sha256} for i in instances]
    data["provenance"] = dict(provenance)
    write_synced(folder / SUMMARY, json_line(data))
    fsync_directory(folder)


def _publish(folder: Path, dest: Path, stage: Path) -> None:
    """Rename ``folder`` to ``dest``, replacing an older output of the series."""
    publish_directory(folder, dest, stage / "replaced")
