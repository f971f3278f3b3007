"""The on-disk spool: atomic, content-addressed files below ``MEDCAM_DATA_DIR``.

Layout::

    DATA/spool/tmp/<random>.part           being written (removed at start-up)
    DATA/spool/pending/<sha256(series)>/   instances of a series still arriving (DIMSE)
    DATA/jobs/<job id>/input/<sha256>.dcm  the inputs of one job
    DATA/jobs/<job id>/output/             what the worker wrote

Folders are created 0700 and files 0600 (patient data: owner only; the service
process also sets umask 077 for what its worker writes). Every file is written to
``tmp``, flushed and fsynced, then renamed into place; the
directories are fsynced after the rename (:mod:`medcam.durable`). File names are
hashes of content (or of a UID for folders), never UIDs or any other received value.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Self

from medcam.durable import fsync_directory, replace_file, sync_handle

__all__ = ["Spool", "SpoolWriter", "hash_name"]

_CHUNK = 1 << 20


def hash_name(text: str) -> str:
    """Return a file-system-safe name derived from ``text`` (never ``text`` itself)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


class SpoolWriter:
    """A file being written into the spool's ``tmp`` folder; hashes as it writes.

    Use as a context manager; on an exception the partial file is removed.

    Args:
        path: the temporary file to create.
        limit: the most bytes accepted; :meth:`write` raises ``OverflowError`` beyond.

    """

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.size = 0
        self._digest = hashlib.sha256()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._fh: BinaryIO = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        """Append ``data``.

        Raises:
            OverflowError: the file would exceed ``limit`` bytes.

        """
        self.size += len(data)
        if self.size > self.limit:
            raise OverflowError("file exceeds the configured size limit")
        self._fh.write(data)
        self._digest.update(data)

    def close(self, *, sync: bool = True) -> str:
        """Flush (and unless ``sync=False``, fsync) the file; return its hex sha256."""
        if not self._fh.closed:
            if sync:
                sync_handle(self._fh)
            else:
                self._fh.flush()
            self._fh.close()
        return self._digest.hexdigest()

    def discard(self) -> None:
        """Close and delete the partial file."""
        if not self._fh.closed:
            self._fh.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is not None:
            self.discard()


@dataclass(frozen=True)
class Spool:
    """Paths and atomic moves of the spool.

    Args:
        data_dir: ``MEDCAM_DATA_DIR``.

    """

    data_dir: Path

    @property
    def tmp_dir(self) -> Path:  # noqa: D102
        return self.data_dir / "spool" / "tmp"

    @property
    def pending_dir(self) -> Path:  # noqa: D102
        return self.data_dir / "spool" / "pending"

    @property
    def jobs_dir(self) -> Path:  # noqa: D102
        return self.data_dir / "jobs"

    def ensure_dirs(self) -> None:
        """Create the spool's folders."""
        for d in (self.tmp_dir.parent, self.tmp_dir, self.pending_dir, self.jobs_dir):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)

    def prepare(self) -> None:
        """Create the folders and remove partial files left by a crash."""
        self.ensure_dirs()
        for part in self.tmp_dir.iterdir():
            if part.is_dir():
                shutil.rmtree(part, ignore_errors=True)
            else:
                part.unlink(missing_ok=True)
        fsync_directory(self.tmp_dir)

    def writer(self, limit: int) -> SpoolWriter:
        """Open a new temporary file in the spool."""
        return SpoolWriter(self.tmp_dir / f"{secrets.token_hex(16)}.part", limit)

    def write_bytes(self, data: bytes) -> tuple[Path, str]:
        """Write ``data`` to a synced temporary file; return its path and sha256."""
        with self.writer(len(data)) as w:
            w.write(data)
            digest = w.close()
        return w.path, digest

    def input_dir(self, job_id: str) -> Path:
        """Where a job's inputs live."""
        return self.jobs_dir / job_id / "input"

    def output_dir(self, job_id: str) -> Path:
        """Where a job's worker writes."""
        return self.jobs_dir / job_id / "output"

    def series_pending_dir(self, series_instance_uid: str) -> Path:
        """Return the pending folder of a series (named by a hash of its UID)."""
        return self.pending_dir / hash_name(series_instance_uid)

    def publish(self, tmp: Path, digest: str, folder: Path) -> Path:
        """Rename a synced temporary file into ``folder`` as ``<sha256>.dcm`` and sync.

        Publishing the same content twice leaves one file (the names are equal).
        """
        return replace_file(tmp, folder / f"{digest}.dcm")

    def iter_pending(self) -> Iterator[Path]:
        """Yield the pending series folders."""
        if self.pending_dir.exists():
            yield from (p for p in self.pending_dir.iterdir() if p.is_dir())

    def new_job_dir(self, job_id: str) -> Path:
        """Create a job's (empty) input folder durably and return it."""
        folder = self.input_dir(job_id)
        folder.parent.mkdir(mode=0o700, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=False)
        fsync_directory(folder.parent)
        fsync_directory(self.jobs_dir)
        return folder

    def move_into(self, files: list[Path], folder: Path) -> list[Path]:
        """Rename ``files`` into ``folder`` (keeping their names) and sync both ends."""
        moved = []
        sources = {f.parent for f in files}
        for f in files:
            dest = folder / f.name
            f.replace(dest)
            moved.append(dest)
        fsync_directory(folder)
        for src in sources:
            if src.exists():
                fsync_directory(src)
        return moved

    def remove_job(self, job_id: str) -> None:
        """Delete a job's folder (inputs and outputs)."""
        shutil.rmtree(self.jobs_dir / job_id, ignore_errors=True)
