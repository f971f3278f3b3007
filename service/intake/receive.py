"""C-STORE data streamed into the spool as it arrives, never held whole in memory.

pynetdicom's ``_config.STORE_RECV_CHUNKED_DATASET`` writes each received data set
fragment to a file opened with ``tempfile.NamedTemporaryFile`` (in ``/tmp``, often a
RAM-backed tmpfs, with no size limit). :func:`install` replaces that factory, for
associations of an AE that carries a :class:`ReceiveFiles`, by one that writes into
the spool's ``tmp`` folder through a :class:`~service.spool.SpoolWriter`: hashed
while written, capped at ``max_instance_bytes``. The first fragment beyond the cap
discards the partial file and aborts the association (A-ABORT: DIMSE has no way to
refuse a C-STORE before its last fragment), so neither memory nor disk ever holds
more than the cap. Other AEs in the process keep pynetdicom's behaviour.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from pynetdicom import _config, dimse_messages
from pynetdicom.association import Association

from service.spool import Spool, SpoolWriter

__all__ = ["RECEIVER_ATTR", "ReceiveFile", "ReceiveFiles", "install"]

#: Attribute of a pynetdicom ``AE`` that holds its :class:`ReceiveFiles`.
RECEIVER_ATTR = "_medcam_receive_files"
_ORIGINAL_FACTORY = dimse_messages.NamedTemporaryFile  # type: ignore[attr-defined]


class ReceiveFile:
    """The file pynetdicom writes one received C-STORE data set into.

    It offers what pynetdicom uses of a ``NamedTemporaryFile`` (``name``,
    ``write``, ``file.flush``, ``close``) and stops writing at the cap.
    """

    def __init__(self, writer: SpoolWriter, assoc: Association) -> None:
        self.writer, self.assoc = writer, assoc
        self.name = str(writer.path)
        self.overflowed = False
        #: a write error (disk full): the rest is dropped, the C-STORE answered 0xA700
        self.error: OSError | None = None
        self.digest: str | None = None

    @property
    def path(self) -> Path:  # noqa: D102
        return self.writer.path

    @property
    def file(self) -> ReceiveFile:
        """Pynetdicom flushes ``file`` after each fragment; :meth:`finish` syncs."""
        return self

    def flush(self) -> None:  # noqa: D102
        return

    def write(self, data: bytes) -> int:
        """Append a fragment; past the cap, discard the file and abort the association."""
        if self.overflowed or self.error is not None:
            return len(data)
        try:
            self.writer.write(data)
        except OverflowError:
            self.overflowed = True
            self.writer.discard()
            self.assoc.abort(block=False)
        except OSError as exc:
            self.error = exc
            self.writer.discard()
        return len(data)

    def finish(self) -> str:
        """Fsync and close; return the sha256 of the file's bytes."""
        if self.digest is None:
            self.digest = self.writer.close()
        return self.digest

    def close(self) -> None:
        """Close without syncing (pynetdicom calls this after the handler)."""
        if self.digest is None and not self.overflowed and self.error is None:
            self.digest = self.writer.close(sync=False)

    def discard(self) -> None:
        """Close and delete the file."""
        self.writer.discard()


class ReceiveFiles:
    """The receive files open per association of one listener.

    Args:
        spool: where files are written.
        limit: the most bytes one received file (preamble and meta included) may hold.

    """

    def __init__(self, spool: Spool, limit: int) -> None:
        self.spool, self.limit = spool, limit
        self._lock = threading.Lock()
        self._open: dict[Association, dict[str, ReceiveFile]] = {}

    def open(self, assoc: Association) -> ReceiveFile:
        """A new capped file in the spool for ``assoc``."""
        f = ReceiveFile(self.spool.writer(self.limit), assoc)
        with self._lock:
            self._open.setdefault(assoc, {})[f.name] = f
        return f

    def claim(self, assoc: Association, path: object) -> ReceiveFile | None:
        """Take the file pynetdicom reports at ``path`` (the handler now owns it)."""
        with self._lock:
            return self._open.get(assoc, {}).pop(str(path), None)

    def discard_all(self, assoc: Association) -> int:
        """Delete every unclaimed file of an ended association; return how many."""
        with self._lock:
            files = list(self._open.pop(assoc, {}).values())
        for f in files:
            f.discard()
        return len(files)


def _factory(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 (tempfile's signature)
    assoc = getattr(threading.current_thread(), "assoc", None)
    files = getattr(getattr(assoc, "ae", None), RECEIVER_ATTR, None)
    if isinstance(files, ReceiveFiles) and isinstance(assoc, Association):
        return files.open(assoc)
    return _ORIGINAL_FACTORY(*args, **kwargs)


def install() -> None:
    """Stream received C-STORE data sets to files (idempotent, process-wide)."""
    _config.STORE_RECV_CHUNKED_DATASET = True
    dimse_messages.NamedTemporaryFile = _factory  # type: ignore[attr-defined]
