"""Hand work units to an engine's workers and collect the outcomes, whatever the engine.

Each worker gets up to :data:`DEPTH` units at a time (one on the model, one being
read or written: the prefetch). An engine reports each outcome, or that a worker
died (killed by the OOM killer, a crashing decoder, a lost Ray node). Then the
units it held are retried one at a time on a fresh worker: a unit that kills a
worker while alone on it is recorded as failed (``worker_crashed``), so one
poisonous series can neither stop the run nor take others down with it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from medcam.batch.manifest import ManifestEntry
from medcam.batch.units import WorkUnit
from medcam.batch.worker import Outcome
from medcam.errors import WorkerCrashedError

__all__ = ["CRASH_DETAIL", "DEPTH", "Engine", "Event", "dispatch", "series_crash"]

#: Units in flight per worker: one computing, one prefetched (read) or being written.
DEPTH = 2


#: What a series' manifest entry says when its worker died holding it alone.
CRASH_DETAIL = ("the worker process died while processing this series "
                "(e.g. out of memory or a crashing decoder)")


def series_crash() -> WorkerCrashedError:
    """The error recorded for a series that killed its worker (reason ``worker_crashed``)."""
    return WorkerCrashedError(CRASH_DETAIL)


@dataclass(frozen=True)
class Event:
    """An outcome from ``worker``, or (``outcome is None``) the death of ``worker``."""

    worker: int
    outcome: Outcome | None


class Engine(Protocol):
    """Runs :class:`~medcam.batch.worker.SeriesProcessor` s on N workers."""

    n_workers: int

    def start(self) -> None:
        """Start the workers; each loads the model once.

        Raises:
            BatchError: a worker could not start (model, device, engine).

        """
        ...

    def submit(self, worker: int, unit: WorkUnit) -> None:
        """Give ``unit`` to ``worker``."""
        ...

    def wait(self, timeout_s: float) -> list[Event]:
        """Return the events of the next ``timeout_s`` seconds (at least one if any)."""
        ...

    def restart(self, worker: int) -> None:
        """Replace a dead worker (its in-flight units are forgotten)."""
        ...

    def close(self) -> None:
        """Stop every worker."""
        ...


def dispatch(engine: Engine, units: Iterable[WorkUnit], record: Callable[[Outcome], None],
             crashed: Callable[[WorkUnit], ManifestEntry]) -> None:
    """Run every unit on ``engine`` (already started) and ``record`` each outcome.

    Args:
        engine: a started engine.
        units: the units to run.
        record: called in the calling thread for each outcome, in completion order.
        crashed: builds the entry of a unit that killed its worker.

    """
    queue: deque[WorkUnit] = deque(units)
    suspects: deque[WorkUnit] = deque()
    inflight: dict[int, dict[str, WorkUnit]] = {w: {} for w in range(engine.n_workers)}
    isolated: set[int] = set()

    def fill(worker: int) -> None:
        held = inflight[worker]
        if worker in isolated:
            return
        if suspects:
            if not held:
                unit = suspects.popleft()
                isolated.add(worker)
                held[unit.key] = unit
                engine.submit(worker, unit)
            return
        while queue and len(held) < DEPTH:
            unit = queue.popleft()
            held[unit.key] = unit
            engine.submit(worker, unit)

    for w in inflight:
        fill(w)
    while queue or suspects or any(inflight.values()):
        for event in engine.wait(1.0):
            w = event.worker
            if event.outcome is not None:
                if inflight[w].pop(event.outcome.entry.key, None) is None:
                    continue  # a stale answer from before a restart
                isolated.discard(w)
                record(event.outcome)
            else:
                lost = list(inflight[w].values())
                inflight[w].clear()
                engine.restart(w)
                if w in isolated or len(lost) == 1:
                    for unit in lost:
                        record(Outcome(crashed(unit)))
                else:
                    suspects.extend(lost)
                isolated.discard(w)
        for w in inflight:
            fill(w)
