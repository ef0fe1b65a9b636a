"""SQLite (WAL) under the data dir: the embedded default store. One connection per thread, schema on open.

Several server processes may share the file: writers serialise with BEGIN IMMEDIATE (see `transaction`),
readers never block in WAL mode."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
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
            migrate(self)

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


def _columns(conn: Any, table: str) -> set[str]:
    return {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}


def _api_key_policy(conn: Any) -> None:
    existing = _columns(conn, "api_keys")
    for name, declaration in API_KEY_COLUMNS:
        if name not in existing:
            conn.execute(f"ALTER TABLE api_keys ADD COLUMN {name} {declaration}")


def _job_request_column(conn: Any) -> None:
    """Tables from before typed requests stored raw form fields in `fields`: the column is now `request`
    (JobService still reads such a job's old fields). A database with no jobs table yet has nothing to do."""
    columns = _columns(conn, "transcription_jobs")
    if "fields" in columns and "request" not in columns:
        conn.execute("ALTER TABLE transcription_jobs RENAME COLUMN fields TO request")


@dataclass(frozen=True)
class Migration:
    """One schema change after the base tables, applied once per database and recorded with its version."""

    version: int
    name: str
    apply: Callable[[Any], None]  # runs inside the write transaction that records it


# In order; never edit one that has shipped, add the next version. Each is written so that a database already in
# that shape (made before versions were recorded) passes through it unchanged.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "api_keys: admin, pipeline, credits_nano, rpm, concurrency", _api_key_policy),
    Migration(2, "transcription_jobs: fields renamed to request", _job_request_column),
)

MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at REAL NOT NULL
)"""


def migrate(db: SqlDatabase) -> list[int]:
    """Apply the versions this database lacks, each recorded in `schema_migrations`, in one write transaction
    (so replicas starting together apply each once); returns the versions applied now. SQLite and PostgreSQL run
    the same migrations."""
    db.add_schema([MIGRATIONS_TABLE])
    applied: list[int] = []
    with db.transaction() as tx:
        done = {int(row["version"]) for row in tx.execute("SELECT version FROM schema_migrations")}
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            migration.apply(tx)
            tx.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                       (migration.version, migration.name, time.time()))
            applied.append(migration.version)
    return applied
