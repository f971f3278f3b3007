"""The ``ray`` engine: one model actor per worker on a Ray cluster.

Each actor holds a :class:`~medcam.batch.worker.SeriesProcessor` (the model loaded
once) and runs two calls at a time (``max_concurrency=2``), so, as with the local
engine, one series is read or written while the other is on the model. An actor
asks for one CPU, or one GPU with ``--device cuda`` (Ray then shows it that GPU
only). With an address the driver joins that cluster and starts nothing; without
one it starts a local Ray with one CPU per worker, listening on 127.0.0.1 only
(:func:`import_ray`), and stops it at the end;
or uses the Ray this process already started (``ray.init`` by the caller), which it
then leaves running.

Every node must see the archive and the output folder at the same paths (a
shared file system) and have medcam installed. ``ray`` is imported on first use;
without it, :class:`~medcam.errors.BatchError` says how to install it.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

from medcam.batch.schedule import DEPTH, Event
from medcam.batch.units import WorkUnit
from medcam.batch.worker import JobConfig, Outcome, SeriesProcessor
from medcam.errors import BatchError, MedcamError

__all__ = ["RayEngine", "import_ray"]

START_TIMEOUT_S = 300.0
#: Ray reads this at import: "0" makes every Ray server of a local Ray use 127.0.0.1.
LOOPBACK_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def import_ray(*, local_only: bool = False) -> ModuleType:
    """Import ``ray``.

    Args:
        local_only: this process will start its own Ray, which then listens on
            127.0.0.1 only (Ray otherwise binds its servers to the machine's network
            address). Takes effect only if ray is not imported yet.

    Raises:
        BatchError: ray is not installed.

    """
    if local_only and "ray" not in sys.modules:
        os.environ.setdefault(LOOPBACK_ONLY_ENV, "0")
    try:
        import ray
    except ImportError as exc:
        raise BatchError("the ray engine needs the 'ray' package: "
                         "pip install 'medcam-dicom[batch]'") from exc
    return ray


class _SeriesActor:
    """The actor body (wrapped with ``ray.remote`` at start)."""

    def __init__(self, config: JobConfig, device: str) -> None:
        self.error: str | None = None
        self.processor: SeriesProcessor | None = None
        try:
            self.processor = SeriesProcessor(config, device)
        except MedcamError as exc:
            self.error = str(exc)

    def ready(self) -> str | None:
        """``None`` once the model is loaded, else why it could not be."""
        return self.error

    def process(self, unit: WorkUnit) -> Outcome:
        """Process one series."""
        if self.processor is None:
            raise BatchError(f"the model could not be loaded: {self.error}")
        return self.processor.process(unit)


class RayEngine:
    """Ray actors (see the module docstring).

    Args:
        config: the run's job.
        n_workers: number of actors.
        address: a running cluster's address (``auto``, ``ray://host:10001``, ...).

    """

    def __init__(self, config: JobConfig, n_workers: int, address: str | None = None) -> None:
        self.config = config
        self.n_workers = n_workers
        self.address = address
        self._ray = import_ray(local_only=address is None)
        self._actor_cls: Any = None
        self._actors: list[Any] = [None] * n_workers
        self._generation = [0] * n_workers
        self._refs: dict[Any, tuple[int, int]] = {}
        self._owns_ray = False

    def _init_ray(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        gpu = self.config.device.startswith("cuda")
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "configure_logging": False}
        try:
            if self.address:
                ray.init(address=self.address, **kwargs)
            else:
                ray.init(num_cpus=self.n_workers, num_gpus=None if gpu else 0, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise BatchError(f"cannot start or reach Ray ({type(exc).__name__}: {exc})") from exc
        self._owns_ray = True

    def _spawn(self, worker: int) -> None:
        gpu = self.config.device.startswith("cuda")
        options = {"num_cpus": 0 if gpu else 1, "num_gpus": 1 if gpu else 0,
                   "max_concurrency": DEPTH, "max_restarts": 0}
        device = "cuda" if gpu else self.config.device
        self._actors[worker] = self._actor_cls.options(**options).remote(self.config, device)
        self._generation[worker] += 1

    def _await_ready(self, worker: int) -> None:
        ray = self._ray
        try:
            error = ray.get(self._actors[worker].ready.remote(), timeout=START_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError as exc:
            raise BatchError(f"Ray actor {worker} did not start within "
                             f"{START_TIMEOUT_S:.0f} s (not enough CPUs/GPUs in the "
                             "cluster?)") from exc
        except ray.exceptions.RayError as exc:
            raise BatchError(f"Ray actor {worker} died while starting "
                             f"({type(exc).__name__})") from exc
        if error is not None:
            raise BatchError(f"Ray actor {worker} could not load the model: {error}")

    def start(self) -> None:  # noqa: D102
        self._init_ray()
        self._actor_cls = self._ray.remote(_SeriesActor)
        for w in range(self.n_workers):
            self._spawn(w)
        for w in range(self.n_workers):
            self._await_ready(w)

    def submit(self, worker: int, unit: WorkUnit) -> None:  # noqa: D102
        ref = self._actors[worker].process.remote(unit)
        self._refs[ref] = (worker, self._generation[worker])

    def wait(self, timeout_s: float) -> list[Event]:  # noqa: D102
        ray = self._ray
        if not self._refs:
            return []
        ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=timeout_s)
        if ready:  # take everything else that is ready too
            ready, _ = ray.wait(list(self._refs), num_returns=len(self._refs), timeout=0)
        events, dead = [], set()
        for ref in ready:
            worker, generation = self._refs.pop(ref)
            if generation != self._generation[worker]:
                continue
            try:
                events.append(Event(worker, ray.get(ref)))
            except ray.exceptions.RayActorError:
                dead.add(worker)
        events.extend(Event(w, None) for w in sorted(dead))
        return events

    def restart(self, worker: int) -> None:  # noqa: D102
        actor = self._actors[worker]
        if actor is not None:
            self._ray.kill(actor)
        self._spawn(worker)
        self._await_ready(worker)

    def close(self) -> None:  # noqa: D102
        for actor in self._actors:
            if actor is not None:
                self._ray.kill(actor)
        self._actors = [None] * self.n_workers
        self._refs.clear()
        if self._owns_ray:
            self._ray.shutdown()
