"""Alias of :mod:`medcam.durable` for modules not yet switched to it (no logic of its own)."""

from __future__ import annotations

from medcam.durable import atomic_directory, fsync_directory, write_file_atomic, write_synced

__all__ = ["atomic_directory", "fsync_directory", "write_file_atomic", "write_synced"]
