"""Scripted DICOM peers for sender unit tests (pynetdicom's own testing style).

These are not a PACS stand-in for integration tests: they produce the protocol
corner cases (warning, out of resources, hang, rejected context) on demand.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pynetdicom import AE, evt
from pynetdicom.events import Event
from pynetdicom.sop_class import CTImageStorage, SecondaryCaptureImageStorage, Verification

from tests.service.orthanc import free_port


@contextmanager
def storage_peer(status: Callable[[Event], int], *, accept_sc: bool = True,
                 ae_title: str = "PEER") -> Iterator[int]:
    """A C-STORE SCP whose answer is ``status(event)``; yields its port."""
    ae = AE(ae_title=ae_title)
    ae.add_supported_context(CTImageStorage)
    ae.add_supported_context(Verification)
    if accept_sc:
        ae.add_supported_context(SecondaryCaptureImageStorage)
    ae.dimse_timeout = 30
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_C_STORE, status)])
    try:
        yield port
    finally:
        server.shutdown()


@contextmanager
def silent_peer() -> Iterator[int]:
    """Accepts TCP connections and never answers; yields its port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        for c in held:
            c.close()
        sock.close()


def sleepy(seconds: float, times: int = 1) -> Callable[[Event], int]:
    """A handler that hangs ``seconds`` on its first ``times`` calls, then stores."""
    calls = {"n": 0}

    def handler(_event: Event) -> int:
        calls["n"] += 1
        if calls["n"] <= times:
            time.sleep(seconds)
        return 0x0000

    return handler
