"""SQLite (WAL) under the data dir: the embedded default store. One connection per thread, schema on open."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

_SCHEMA: list[str] = [
    """CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at REAL NOT NULL,
        revoked_at REAL
    )""",
]


class Database:
    """Thread-local sqlite3 connections to one file; callers use `conn()` inside `with` for a transaction."""

    def __init__(self, path: Path, schema: list[str] | None = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        conn = self.conn()
        conn.execute("PRAGMA journal_mode=WAL")
        for statement in schema or _SCHEMA:
            conn.execute(statement)
        conn.commit()

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level="DEFERRED")
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def add_schema(self, statements: list[str]) -> None:
        """Let other stores (gateway, jobs) create their tables on the same file."""
        conn = self.conn()
        for statement in statements:
            conn.execute(statement)
        conn.commit()
