"""SQLite (WAL) under the data dir: the embedded default store. One connection per thread, schema on open.

Several server processes may share the file: writers serialise with BEGIN IMMEDIATE (see `transaction`),
readers never block in WAL mode."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

SqlRow = Any  # sqlite3.Row, or the PostgreSQL store's Row: readable by position and by column name


class SqlConnection(Protocol):
    """What the stores' SQL runs on: a sqlite3 connection, or the PostgreSQL store's (voxgate/store/postgres.py)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


class SqlDatabase(Protocol):
    """Connections for reads, write transactions, and schema: SQLite's `Database` or `PostgresDatabase`."""

    integrity_errors: tuple[type[Exception], ...]  # what a unique or primary-key violation raises

    def conn(self) -> Any: ...

    def transaction(self) -> AbstractContextManager[Any]: ...

    def add_schema(self, statements: list[str]) -> None: ...

SCHEMA: list[str] = [
    """CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at REAL NOT NULL,
        revoked_at REAL
    )""",
    # One row per (API key, Idempotency-Key): claimed while running, the settled response once done.
    """CREATE TABLE IF NOT EXISTS idempotency (
        key_id TEXT NOT NULL,
        idem_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL,
        owner TEXT NOT NULL,
        request_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        heartbeat_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        status INTEGER,
        headers TEXT,
        body BLOB,
        model TEXT,
        PRIMARY KEY (key_id, idem_key)
    )""",
    "CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency (expires_at)",
    # Credits are integers in nano-credits (1e-9) so sums never drift.
    """CREATE TABLE IF NOT EXISTS ledger (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key_id TEXT NOT NULL,
        request_id TEXT NOT NULL,
        model TEXT NOT NULL,
        unit TEXT NOT NULL,
        units INTEGER NOT NULL,
        credits_nano INTEGER NOT NULL,
        day TEXT NOT NULL,
        created_at REAL NOT NULL,
        idempotency_key TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS ledger_key_day ON ledger (key_id, day)",
    """CREATE TABLE IF NOT EXISTS credit_holds (
        request_id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        amount_nano INTEGER NOT NULL,
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS credit_holds_key ON credit_holds (key_id)",
]

# Columns added to api_keys after the first release: (name, declaration), applied with ALTER TABLE.
API_KEY_COLUMNS: list[tuple[str, str]] = [
    ("admin", "INTEGER NOT NULL DEFAULT 0"),
    ("pipeline", "TEXT"),
    ("credits_nano", "INTEGER"),
    ("rpm", "INTEGER"),
    ("concurrency", "INTEGER"),
]


class Database:
    """Thread-local sqlite3 connections to one file; callers use `conn()` inside `with` for a transaction."""

    integrity_errors: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)

    def __init__(self, path: Path, schema: list[str] | None = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        conn = self.conn()
        conn.execute("PRAGMA journal_mode=WAL")
        with self.transaction() as tx:
            for statement in schema or SCHEMA:
                tx.execute(statement)
            if schema is None:
                _migrate_api_keys(tx)

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level="DEFERRED")
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the file's write lock up front (BEGIN IMMEDIATE), so a
        read-then-write (claim a key, check a balance) cannot interleave with another process."""
        conn = self.conn()
        if conn.in_transaction:
            conn.commit()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    def add_schema(self, statements: list[str]) -> None:
        """Let other stores (gateway, jobs) create their tables on the same file."""
        conn = self.conn()
        for statement in statements:
            conn.execute(statement)
        conn.commit()


def _migrate_api_keys(conn: sqlite3.Connection) -> None:
    existing = {row["name"] for row in conn.execute("PRAGMA table_info(api_keys)")}
    for name, declaration in API_KEY_COLUMNS:
        if name not in existing:
            conn.execute(f"ALTER TABLE api_keys ADD COLUMN {name} {declaration}")
