"""The ``local`` engine: N worker processes on this machine, one model each.

Workers are started with ``spawn`` (no state inherited from the parent, safe with
CUDA), load the model once, and talk to the parent over one pipe each: the parent
sends work units, the worker answers with outcomes. Each worker runs two series
at a time on two threads sharing the model under a lock, so reading the next
series and writing the previous one overlap with compute. A worker dies with the
parent (``PR_SET_PDEATHSIG`` on Linux, else a watchdog), so a killed run leaves no
process writing into the output behind it. With ``device="cuda"`` worker ``i``
uses GPU ``i % n_gpus``.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from medcam._process import die_with_parent
from medcam.batch.schedule import DEPTH, Event
from medcam.batch.units import WorkUnit
from medcam.batch.worker import JobConfig, Outcome, SeriesProcessor
from medcam.errors import BatchError, MedcamError

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
    die_with_parent()
    try:
        processor = SeriesProcessor(config, device)
    except MedcamError as exc:
        conn.send(("error", str(exc)))
        return
    conn.send(("ready", None))
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
        self._ctx = mp.get_context("spawn")
        self._devices = worker_devices(config.device, n_workers)
        self._procs: list[BaseProcess | None] = [None] * n_workers
        self._conns: list[Connection | None] = [None] * n_workers

    def _spawn(self, worker: int) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_worker_main, args=(child, self.config,
                                                            self._devices[worker]),
                                 name=f"medcam-batch-{worker}", daemon=True)
        proc.start()
        child.close()
        self._procs[worker], self._conns[worker] = proc, parent

    def _await_ready(self, worker: int) -> None:
        conn = self._conns[worker]
        assert conn is not None
        if not conn.poll(START_TIMEOUT_S):
            raise BatchError(f"worker {worker} did not start within {START_TIMEOUT_S:.0f} s")
        try:
            kind, detail = conn.recv()
        except (EOFError, OSError) as exc:
            raise BatchError(f"worker {worker} died while loading the model") from exc
        if kind != "ready":
            raise BatchError(f"worker {worker} could not load the model: {detail}")

    def start(self) -> None:  # noqa: D102
        for w in range(self.n_workers):
            self._spawn(w)
        for w in range(self.n_workers):
            self._await_ready(w)

    def submit(self, worker: int, unit: WorkUnit) -> None:  # noqa: D102
        conn = self._conns[worker]
        assert conn is not None
        try:
            conn.send(unit)
        except (BrokenPipeError, OSError):
            pass  # the worker is dead; wait() reports it

    def wait(self, timeout_s: float) -> list[Event]:  # noqa: D102
        handles: dict[Any, int] = {}
        for w, (conn, proc) in enumerate(zip(self._conns, self._procs, strict=True)):
            if conn is not None and proc is not None:
                handles[conn] = handles[proc.sentinel] = w
        events: list[Event] = []
        dead: set[int] = set()
        for ready in wait(list(handles), timeout_s):
            w = handles[ready]
            conn = self._conns[w]
            assert conn is not None
            try:
                while conn.poll():
                    kind, payload = conn.recv()
                    if kind == "outcome":
                        events.append(Event(w, payload))
            except (EOFError, OSError):
                dead.add(w)
            proc = self._procs[w]
            if proc is not None and not proc.is_alive():
                dead.add(w)
        events.extend(Event(w, None) for w in sorted(dead))
        return events

    def restart(self, worker: int) -> None:  # noqa: D102
        self._stop(worker)
        self._spawn(worker)
        self._await_ready(worker)

    def _stop(self, worker: int) -> None:
        conn, proc = self._conns[worker], self._procs[worker]
        if conn is not None:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            conn.close()
        if proc is not None:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        self._conns[worker] = self._procs[worker] = None

    def close(self) -> None:  # noqa: D102
        for w in range(self.n_workers):
            self._stop(w)
