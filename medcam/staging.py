"""Staging folders beside an output folder: named by process id, swept when stale.

``medcam explain --out OUT`` writes into ``.OUT.staging-<pid>/`` beside ``OUT`` and
moves finished series into ``OUT`` (replacing an older copy through
``OUT/.<name>.old-<pid>``). A run that ends normally, by an error, by Ctrl-C
(SIGINT) or by SIGTERM (:func:`terminate_as_interrupt` turns it into an exception,
so ``finally`` blocks run) removes its own staging folder. A run killed outright
(SIGKILL, power loss) cannot; :func:`sweep_stale` removes such leftovers, whose
process id no longer runs (or is the caller's own: a leftover with our id is from
an earlier process that had it), before the next run writes anything.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

__all__ = ["Terminated", "staging_dir", "sweep_stale", "terminate_as_interrupt"]


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""


def staging_dir(out_dir: Path) -> Path:
    """The staging folder of this process for ``out_dir``."""
    return out_dir.parent / f".{out_dir.name}.staging-{os.getpid()}"


def _alive(pid: int) -> bool:
    if pid == os.getpid() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def _stale(path: Path, marker: str) -> bool:
    suffix = path.name.rpartition(marker)[2]
    return suffix.isdigit() and not _alive(int(suffix))


def sweep_stale(out_dir: Path) -> int:
    """Remove staging and replaced-series folders left by runs that no longer run.

    Args:
        out_dir: the output folder (it need not exist).

    Returns:
        The number of folders removed.

    """
    out_dir = Path(out_dir)
    found = [p for p in out_dir.parent.glob(f".{out_dir.name}.staging-*")
             if _stale(p, ".staging-")]
    if out_dir.is_dir():
        found += [p for p in out_dir.glob(".*.old-*") if _stale(p, ".old-")]
    for path in found:
        shutil.rmtree(path, ignore_errors=True)
    return len(found)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` while the block runs (main thread only).

    Yields:
        Nothing; the previous handler is put back on exit.

    """
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
