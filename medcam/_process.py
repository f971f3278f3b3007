"""Helpers for child processes (batch workers, the service's inference child)."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
import time

__all__ = ["die_with_parent"]

_LOG = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1


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
