"""Atomic publication of output folders and files.

Outputs are written into a hidden temporary sibling of their destination and
renamed into place only once complete, so a reader (or a crash) never sees a
half-written export. On failure the temporary data is removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_directory", "fsync_directory", "write_file_atomic", "write_synced"]


def write_synced(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file and flush it to disk.

    Args:
        path: destination; must not exist.
        data: the file's bytes.

    """
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_directory(path: Path) -> None:
    """Flush a folder's entries (new, renamed or removed names) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
