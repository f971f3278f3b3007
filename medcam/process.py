"""One worker-process primitive: spawn, ready handshake, die with the parent, crash detection.

Used by the batch ``local`` engine (one process per worker, one model each) and by
the service's inference child. A worker is started with ``spawn`` (no state
inherited from the parent, safe with CUDA) and talks to its parent over one pipe.
Its first message is the ready handshake: :func:`signal_ready` once it can take
work, or :func:`signal_failed` with a one-line reason. It dies with its parent
(``PR_SET_PDEATHSIG`` on Linux, else a watchdog), so a killed parent leaves no
process writing behind it. A pipe that breaks or a process that is gone is raised
as :class:`~medcam.errors.WorkerCrashedError`, with the signal or exit code.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from medcam.errors import WorkerCrashedError

__all__ = ["WorkerProcess", "die_with_parent", "signal_failed", "signal_ready"]

_LOG = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1
_READY, _FAILED = "ready", "failed"


def die_with_parent() -> None:
    """End this process when its parent dies.

    Linux delivers SIGKILL through ``prctl(PR_SET_PDEATHSIG)``; a watchdog thread
    polling the parent's pid covers other systems and a parent that dies before
    the call.
    """
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        _LOG.debug("prctl unavailable; relying on the watchdog")

    def watchdog() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watchdog, name="parent-watchdog", daemon=True).start()


def signal_ready(conn: Connection) -> None:
    """Tell the parent this worker can take work (the ready handshake)."""
    conn.send((_READY, None))


def signal_failed(conn: Connection, detail: str) -> None:
    """Tell the parent this worker cannot start, with a one-line reason (no patient data)."""
    conn.send((_FAILED, detail))


def _child_entry(conn: Connection, target: Callable[..., None], args: tuple[Any, ...]) -> None:
    die_with_parent()
    target(conn, *args)


class WorkerProcess:
    """One spawned child running ``target(conn, *args)``, seen from the parent.

    Args:
        target: a module-level function (it is pickled by reference); it must
            call :func:`signal_ready` or :func:`signal_failed` first.
        args: its further arguments (picklable).
        name: the process name.

    """

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], name: str) -> None:
        self.target, self.args, self.name = target, args, name
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self._handshake_pending = False
        #: The reason the worker sent with :func:`signal_failed`, once received.
        self.failure: str | None = None

    def start(self) -> None:
        """Spawn the process (returns at once; see :meth:`await_ready`)."""
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_child_entry, args=(child, self.target, self.args),
                           name=self.name, daemon=True)
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        self._handshake_pending, self.failure = True, None

    @property
    def pid(self) -> int | None:
        """The process id (``None`` before :meth:`start`)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def conn(self) -> Connection:
        """The parent's end of the pipe."""
        if self._conn is None:
            raise WorkerCrashedError("the worker process is not running")
        return self._conn

    @property
    def sentinel(self) -> int:
        """A handle that becomes ready when the process ends (for ``connection.wait``)."""
        if self._proc is None:
            raise WorkerCrashedError("the worker process is not running")
        return self._proc.sentinel

    def is_alive(self) -> bool:
        """Whether the process runs."""
        return self._proc is not None and self._proc.is_alive()

    def await_ready(self, timeout_s: float) -> str | None:
        """Wait for the ready handshake.

        Returns:
            ``None`` when the worker is ready, else the reason it sent for failing.

        Raises:
            WorkerCrashedError: it died, or sent nothing within ``timeout_s``.

        """
        if self._handshake_pending:
            if not self.conn.poll(timeout_s):
                raise WorkerCrashedError(f"did not start within {timeout_s:.0f} s")
            self._take_handshake()
        return self.failure

    def _take_handshake(self) -> None:
        try:
            kind, detail = self.conn.recv()
        except (EOFError, OSError) as exc:
            raise WorkerCrashedError(self.death_reason()) from exc
        self._handshake_pending = False
        self.failure = None if kind == _READY else str(detail)

    def poll(self, timeout_s: float = 0.0) -> bool:
        """Whether a message waits (the ready handshake is taken in passing).

        Raises:
            WorkerCrashedError: the pipe closed while taking the handshake.

        """
        if not self.conn.poll(timeout_s):
            return False
        if self._handshake_pending:
            self._take_handshake()
            return self.conn.poll(0)
        return True

    def send(self, message: object) -> None:
        """Send one message.

        Raises:
            WorkerCrashedError: the pipe is broken (the process is gone).

        """
        try:
            self.conn.send(message)
        except (BrokenPipeError, OSError) as exc:
            raise WorkerCrashedError(self.death_reason()) from exc

    def recv(self) -> Any:  # noqa: ANN401 - whatever the worker sends
        """Receive one message.

        Raises:
            WorkerCrashedError: the pipe closed (the process is gone).

        """
        try:
            return self.conn.recv()
        except (EOFError, OSError) as exc:
            raise WorkerCrashedError(self.death_reason()) from exc

    def death_reason(self) -> str:
        """Why the process ended: the signal that killed it or its exit code."""
        proc = self._proc
        code = None
        if proc is not None:
            proc.join(2)
            code = proc.exitcode
        if code is not None and code < 0:
            return f"worker process killed by signal {-code}"
        return f"worker process exited (code {code})"

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask the worker to end (a ``None`` message), then kill it if it lingers."""
        conn, proc = self._conn, self._proc
        self._conn = None
        if conn is not None:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            conn.close()
        if proc is not None:
            proc.join(timeout_s)
        self.kill()

    def kill(self) -> None:
        """Kill the process at once and close the pipe."""
        conn, proc = self._conn, self._proc
        self._conn = self._proc = None
        if conn is not None:
            conn.close()
        if proc is not None and proc.is_alive():
            proc.kill()
            proc.join(5)
