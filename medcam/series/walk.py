"""List the files under folders and files, counting what cannot be read, never raising on it.

Folders are walked in sorted order without following links to folders; a link to a
file is followed. An entry that is not a readable regular file (a dangling or
looping link, a FIFO, socket or device: opening a FIFO would block) is listed as
*unreadable*; a folder that cannot be listed is counted. Only an input path that
does not exist at all raises.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from medcam.errors import NotDicomError

__all__ = ["FileListing", "expand_files", "walk_files"]


@dataclass(frozen=True)
class FileListing:
    """The files under some inputs, and what could not be listed or read.

    Args:
        files: regular files, each once, folders walked in sorted order.
        unreadable: entries that are not readable regular files (dangling or looping
            links, FIFOs, sockets, devices), in walk order.
        n_unreadable_dirs: folders that could not be listed (permission, I/O error).

    """

    files: tuple[Path, ...]
    unreadable: tuple[Path, ...] = ()
    n_unreadable_dirs: int = 0


def _regular(path: Path) -> bool | None:
    """True for a regular file, None for a folder, False for anything unreadable."""
    try:
        mode = path.stat().st_mode  # follows links; a loop or dangling link raises
    except (OSError, RuntimeError):
        return False
    if stat.S_ISDIR(mode):
        return None
    return stat.S_ISREG(mode)


def walk_files(paths: Path | str | Sequence[Path | str]) -> FileListing:
    """List the files under folders and files, and count what cannot be read.

    Args:
        paths: a folder (searched recursively, links to folders not followed), a
            file, or a sequence of both.

    Returns:
        The listing; a file reached twice (e.g. through a link) is kept once.

    Raises:
        NotDicomError: a path given does not exist (nothing is named: the caller
            knows the path it passed).

    """
    items: Iterable[Path | str] = [paths] if isinstance(paths, (str, Path)) else paths
    files: list[Path] = []
    unreadable: list[Path] = []
    dir_errors: list[OSError] = []
    for item in items:
        path = Path(item)
        kind = _regular(path)
        if kind is None:
            for root, dirs, names in os.walk(path, onerror=dir_errors.append):
                dirs.sort()
                for name in sorted(names):
                    entry = Path(root) / name
                    (files if _regular(entry) else unreadable).append(entry)
        elif kind:
            files.append(path)
        elif os.path.lexists(path):
            unreadable.append(path)
        else:
            raise NotDicomError("an input path does not exist")
    seen: set[tuple[int, int]] = set()
    unique = []
    for file in files:
        try:
            info = file.stat()
        except OSError:
            unreadable.append(file)  # removed while we looked
            continue
        key = (info.st_dev, info.st_ino)
        if key not in seen:
            seen.add(key)
            unique.append(file)
    return FileListing(tuple(unique), tuple(unreadable), len(dir_errors))


def expand_files(paths: Path | str | Sequence[Path | str]) -> list[Path]:
    """List the readable regular files under folders and files (see :func:`walk_files`).

    Args:
        paths: a folder (searched recursively), a file, or a sequence of both.

    Returns:
        The files, in walk order, each once.

    Raises:
        NotDicomError: a path is missing.

    """
    return list(walk_files(paths).files)
