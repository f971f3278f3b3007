"""Durable file I/O: every file medcam, ``medcam batch`` and the service publish goes through here.

The rule is the one of a journaling file system's users (POSIX ``rename(2)`` is
atomic; ``fsync(2)`` on a file makes its data durable, on a folder its names):

* **write-and-flush** (:func:`write_synced`, :func:`sync_handle`, :func:`fsync_file`):
  the bytes are on disk before anything points at them;
* **stage-and-publish a folder** (:func:`atomic_directory`, :func:`publish_directory`):
  outputs are written into a hidden sibling and renamed into place once complete,
  so a reader (or a crash) never sees a half-written export;
* **atomic file replace** (:func:`write_file_atomic`, :func:`replace_file`): a
  temporary sibling, synced, renamed over the destination;
* **journal append** (:func:`append_line`, :class:`JsonlJournal`): one fsync'ed line
  at a time; a torn last line (a crash mid-write) is cut off on the next open.

After every rename the folder holding the new name is fsynced.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

__all__ = ["JsonlJournal", "append_line", "atomic_directory", "fsync_directory", "fsync_file",
           "publish_directory", "replace_file", "repair_torn_tail", "sync_handle", "sync_tree",
           "write_file_atomic", "write_synced"]

_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def sync_handle(fh: IO[bytes]) -> None:
    """Flush an open file's buffer and its data to disk."""
    fh.flush()
    os.fsync(fh.fileno())


def write_synced(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file and flush it to disk.

    Args:
        path: destination; must not exist.
        data: the file's bytes.

    """
    with open(path, "xb") as fh:
        fh.write(data)
        sync_handle(fh)


def fsync_file(path: Path) -> None:
    """Flush a closed file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(path: Path) -> None:
    """Flush a folder's entries (new, renamed or removed names) to disk."""
    fd = os.open(path, os.O_RDONLY | _O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_tree(root: Path) -> None:
    """Flush every file and folder under ``root``, then ``root`` and its parent."""
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_file():
            fsync_file(path)
        elif path.is_dir():
            fsync_directory(path)
    fsync_directory(root)
    fsync_directory(root.parent)


@contextmanager
def atomic_directory(out_dir: Path) -> Iterator[Path]:
    """Yield an empty temporary folder that becomes ``out_dir`` on success.

    Args:
        out_dir: the final folder; it must not exist, or be an empty folder.

    Yields:
        The temporary folder to fill (a hidden sibling of ``out_dir``).

    Raises:
        FileExistsError: if ``out_dir`` exists and is not an empty folder.

    """
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise FileExistsError("the output folder exists and is not empty")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial",
                                dir=out_dir.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the export is meant to be shared
    done = False
    try:
        yield tmp
        fsync_directory(tmp)
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above; fails if something was put there
        tmp.rename(out_dir)
        fsync_directory(out_dir.parent)
        done = True
    finally:
        if not done:
            shutil.rmtree(tmp, ignore_errors=True)


def publish_directory(staged: Path, dest: Path, aside: Path) -> None:
    """Rename a complete folder to ``dest``, replacing an older ``dest``.

    Args:
        staged: the complete folder (its files already synced).
        dest: where it is published; an existing folder there is first renamed to
            ``aside`` (the caller removes it), so ``dest`` is never half old, half new.
        aside: a free path on the same file system.

    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.rename(aside)
    staged.rename(dest)
    fsync_directory(dest.parent)


def replace_file(src: Path, dest: Path) -> Path:
    """Rename a complete, synced file onto ``dest`` (replacing it) and sync the folder.

    A folder ``dest.parent`` created here is made durable in its own parent too.
    """
    folder = dest.parent
    new_folder = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    if new_folder:
        fsync_directory(folder.parent)
    src.replace(dest)
    fsync_directory(folder)
    return dest


def write_file_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (temporary sibling, then rename).

    Args:
        path: destination file; replaced if it exists.
        data: the file's bytes.

    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    tmp = Path(name)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes it private
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            sync_handle(fh)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def repair_torn_tail(path: Path) -> bytes:
    """Cut a journal back to its last complete line (a crash can leave half a line).

    Returns:
        The journal's bytes up to and including its last newline (``b""`` if absent).

    """
    if not path.exists():
        return b""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as fh:
            fh.truncate(end)
            os.fsync(fh.fileno())
    return data[:end]


def append_line(path: Path, line: bytes) -> None:
    """Append one complete line to a journal file and flush it to disk."""
    new = not path.exists()
    with open(path, "ab") as fh:
        fh.write(line)
        sync_handle(fh)
    if new:
        fsync_directory(path.parent)


class JsonlJournal:
    """An append-only file of lines kept open, each line durable before the next.

    Args:
        path: the journal file.

    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fh: IO[bytes] | None = None

    def append(self, line: bytes) -> None:
        """Append one complete line (ending in a newline) and flush it to disk."""
        if self._fh is None:
            new = not self.path.exists()
            self._fh = open(self.path, "ab")
            if new:
                fsync_directory(self.path.parent)
        self._fh.write(line)
        sync_handle(self._fh)

    def close(self) -> None:
        """Close the append handle."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def rewrite(self, data: bytes) -> None:
        """Replace the whole journal atomically (e.g. compacted)."""
        self.close()
        write_file_atomic(self.path, data)
        fsync_directory(self.path.parent)
