"""The SQLite database of the service: WAL, full sync, one connection per thread."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["SCHEMA_VERSION", "Database"]

SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    stage TEXT NOT NULL CHECK (stage IN ('fetch', 'infer', 'push', 'done')),
    source TEXT NOT NULL,
    study_instance_uid TEXT,
    series_instance_uid TEXT,
    model TEXT NOT NULL,
    method TEXT NOT NULL,
    outputs TEXT NOT NULL DEFAULT 'sc',
    dedup_key TEXT,
    n_inputs INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    not_before REAL NOT NULL DEFAULT 0,
    error TEXT,
    result TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, stage, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_dedup ON jobs (dedup_key)
    WHERE dedup_key IS NOT NULL AND state != 'failed';
CREATE TABLE IF NOT EXISTS outbox (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    sop_instance_uid TEXT NOT NULL,
    study_instance_uid TEXT NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'sc',
    sop_class_uid TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'stored', 'stored_with_warning',
        'failed_retryable', 'failed_permanent', 'unknown')),
    status_code INTEGER,
    detail TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    PRIMARY KEY (job_id, sop_instance_uid)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at);
"""
#: Columns added by each schema version (a version-1 file is upgraded in place).
_MIGRATIONS = {2: ("ALTER TABLE jobs ADD COLUMN outputs TEXT NOT NULL DEFAULT 'sc'",
                   "ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'sc'",
                   "ALTER TABLE outbox ADD COLUMN sop_class_uid TEXT")}


class Database:
    """A SQLite file in WAL mode with ``synchronous=FULL``: a commit is on disk.

    Args:
        path: the database file (created with its schema if missing).
        busy_timeout_s: how long a writer waits for another writer.

    """

    def __init__(self, path: Path, busy_timeout_s: float = 10.0) -> None:
        self.path = path
        self._busy_ms = int(busy_timeout_s * 1000)
        self._local = threading.local()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # created 0600 before SQLite opens it: its -wal and -shm files copy these bits
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        conn = self._connection()
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        fresh = conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'jobs'"
                             ).fetchone()[0] == 0
        if not fresh and version < SCHEMA_VERSION:
            for step in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[step]:
                    conn.execute(statement)
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=self._busy_ms / 1000,
                                   check_same_thread=True)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """Open a write transaction (``BEGIN IMMEDIATE``); committed (and synced) on success."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def read(self) -> sqlite3.Connection:
        """Return the calling thread's connection, for single-statement reads."""
        return self._connection()

    def ping(self) -> bool:
        """Whether the database answers a trivial query."""
        try:
            row = self.read().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return bool(row is not None and row[0] == 1)

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
