"""The options of a batch run (:class:`BatchOptions`) and its report (:class:`BatchReport`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from medcam.batch.engines import ENGINES
from medcam.batch.manifest import ManifestEntry
from medcam.errors import BatchError
from medcam.export.result_set import ALL_OUTPUTS, parse_outputs
from medcam.export.types import ObjectKind
from medcam.model.cache import DEFAULT_BUDGET_MB
from medcam.routing import Routes

__all__ = ["BatchOptions", "BatchReport", "check_options"]


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
        routes: choose each series' model by these rules (:mod:`.routed`);
            ``model`` is then unused.
        cache_mb: memory budget of each worker's model cache (routed runs).

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
    routes: Routes | None = None
    cache_mb: float = DEFAULT_BUDGET_MB

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


def check_options(o: BatchOptions) -> None:
    """Refuse inconsistent options (engine, workers, device) before any work.

    Raises:
        BatchError: naming the option.

    """
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
