"""The ``local`` engine: N worker processes on this machine, one model each.

Workers are :class:`~medcam.process.WorkerProcess` es (``spawn``, so no state is
inherited from the parent and CUDA is safe); each loads the model once, answers the
ready handshake, and talks to the parent over one pipe: the parent sends work
units, the worker answers with outcomes. Each worker runs two series
at a time on two threads sharing the model under a lock, so reading the next
series and writing the previous one overlap with compute. A worker dies with the
parent (``PR_SET_PDEATHSIG`` on Linux, else a watchdog), so a killed run leaves no
process writing into the output behind it. With ``device="cuda"`` worker ``i``
uses GPU ``i % n_gpus``.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection, wait
from typing import Any

from medcam.batch.schedule import DEPTH, Event
from medcam.batch.units import WorkUnit
from medcam.batch.worker import JobConfig, Outcome, SeriesProcessor
from medcam.errors import BatchError, MedcamError, WorkerCrashedError
from medcam.process import WorkerProcess, signal_failed, signal_ready

__all__ = ["LocalEngine", "worker_devices"]

#: Seconds a worker may take to start and load the model.
START_TIMEOUT_S = 300.0


def worker_devices(device: str, n_workers: int) -> list[str]:
    """The device of each worker: ``cuda`` is spread over the visible GPUs."""
    if device != "cuda":
        return [device] * n_workers
    import torch

    n_gpus = torch.cuda.device_count()
    if n_gpus == 0:
        raise BatchError("--device cuda was given but no CUDA GPU is visible")
    return [f"cuda:{i % n_gpus}" for i in range(n_workers)]


def _worker_main(conn: Connection, config: JobConfig, device: str) -> None:
    try:
        processor = SeriesProcessor(config, device)
    except MedcamError as exc:
        signal_failed(conn, str(exc))
        return
    signal_ready(conn)
    send_lock = threading.Lock()

    def answer(future: Future[Outcome]) -> None:
        with send_lock:
            conn.send(("outcome", future.result()))

    with ThreadPoolExecutor(DEPTH, thread_name_prefix="series") as pool:
        while True:
            try:
                unit = conn.recv()
            except (EOFError, OSError):
                break
            if unit is None:
                break
            pool.submit(processor.process, unit).add_done_callback(answer)


class LocalEngine:
    """N spawned worker processes (see the module docstring).

    Args:
        config: the run's job.
        n_workers: number of processes.

    """

    def __init__(self, config: JobConfig, n_workers: int) -> None:
        self.config = config
        self.n_workers = n_workers
        self._devices = worker_devices(config.device, n_workers)
        self._procs: list[WorkerProcess | None] = [None] * n_workers

    def _spawn(self, worker: int) -> None:
        proc = WorkerProcess(_worker_main, (self.config, self._devices[worker]),
                             name=f"medcam-batch-{worker}")
        proc.start()
        self._procs[worker] = proc

    def _proc(self, worker: int) -> WorkerProcess:
        proc = self._procs[worker]
        if proc is None:
            raise BatchError(f"worker {worker} is not running")
        return proc

    def _await_ready(self, worker: int) -> None:
        try:
            failure = self._proc(worker).await_ready(START_TIMEOUT_S)
        except WorkerCrashedError as exc:
            raise BatchError(f"worker {worker} could not start: {exc}") from exc
        if failure is not None:
            raise BatchError(f"worker {worker} could not load the model: {failure}")

    def start(self) -> None:  # noqa: D102
        for w in range(self.n_workers):
            self._spawn(w)
        for w in range(self.n_workers):
            self._await_ready(w)

    def submit(self, worker: int, unit: WorkUnit) -> None:  # noqa: D102
        try:
            self._proc(worker).send(unit)
        except WorkerCrashedError:
            pass  # the worker is dead; wait() reports it

    def wait(self, timeout_s: float) -> list[Event]:  # noqa: D102
        handles: dict[Any, int] = {}
        for w, proc in enumerate(self._procs):
            if proc is not None:
                handles[proc.conn] = handles[proc.sentinel] = w
        events: list[Event] = []
        dead: set[int] = set()
        for ready in wait(list(handles), timeout_s):
            w = handles[ready]
            proc = self._proc(w)
            try:
                while proc.poll():
                    kind, payload = proc.recv()
                    if kind == "outcome":
                        events.append(Event(w, payload))
            except (WorkerCrashedError, EOFError, OSError):
                dead.add(w)
            if not proc.is_alive():
                dead.add(w)
        events.extend(Event(w, None) for w in sorted(dead))
        return events

    def restart(self, worker: int) -> None:  # noqa: D102
        self._stop(worker)
        self._spawn(worker)
        self._await_ready(worker)

    def _stop(self, worker: int) -> None:
        proc = self._procs[worker]
        if proc is not None:
            proc.stop(10)
        self._procs[worker] = None

    def close(self) -> None:  # noqa: D102
        for w in range(self.n_workers):
            self._stop(w)
