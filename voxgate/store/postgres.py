"""PostgreSQL under every store, for several replicas sharing one database (`VOXGATE_DATABASE_URL`).

The stores speak one SQL (SQLite's, with `?` placeholders); `PostgresDatabase` gives them the same two calls as
the SQLite `Database` -- `conn()` for reads, `transaction()` for writes -- over a psycopg 3 connection pool, and
`translate` rewrites the few SQLite-only spellings (`INSERT OR REPLACE`, `IS ?`, two-argument `MAX`/`MIN`, column
types, `PRAGMA table_info`) once per statement. So the schema and every query exist once, for both engines.

Write transactions keep SQLite's discipline, which the stores' read-then-write steps (an idempotency claim, a
credit hold against the balance) rely on: one writer at a time, here across every replica, by a transaction-
scoped advisory lock (`pg_advisory_xact_lock`) taken first. Writes are short (a row or two), so this costs
little at the request rates one database serves; readers never wait for it. Queue claims (jobs, webhook
deliveries) also use `FOR UPDATE SKIP LOCKED`, so a claim never waits on a row another claim holds."""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from voxgate.store.db import SCHEMA, migrate

WRITE_LOCK = 0x766F78  # "vox": the advisory lock every write transaction holds


class IntegrityError(Exception):
    """A unique or primary-key constraint refused a write (sqlite3.IntegrityError's counterpart)."""


class Row(tuple[Any, ...]):
    """A result row readable by position and by column name, like sqlite3.Row (so `dict(row)` works)."""

    _names: dict[str, int]

    def __new__(cls, names: dict[str, int], values: Sequence[Any]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self._names[key])
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return list(self._names)


class Result:
    """A statement's rows, fetched before its connection goes back to the pool."""

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> Row | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Row]:
        return self.rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)


_TYPES = [(re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"), "BIGSERIAL PRIMARY KEY"),
          (re.compile(r"\bINTEGER\b"), "BIGINT"), (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
          (re.compile(r"\bBLOB\b"), "BYTEA")]
_REPLACE = re.compile(r"^\s*INSERT OR REPLACE INTO (\w+) \(([^)]*)\)", re.S)
_PRAGMA = re.compile(r"^PRAGMA table_info\((\w+)\)$")
_CLAIM = re.compile(r"(UPDATE \w+ SET .* WHERE id = \(\s*SELECT id FROM .*?LIMIT 1)\)", re.S)


def _primary_keys(statements: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each table's primary key, read off its CREATE TABLE (what `INSERT OR REPLACE` conflicts on)."""
    keys: dict[str, tuple[str, ...]] = {}
    for statement in statements:
        table = re.match(r"\s*CREATE TABLE IF NOT EXISTS (\w+)", statement)
        if table is None:
            continue
        composite = re.search(r"PRIMARY KEY \(([^)]*)\)", statement)
        single = re.search(r"(\w+) \w+ PRIMARY KEY", statement)
        if composite:
            keys[table.group(1)] = tuple(c.strip() for c in composite.group(1).split(","))
        elif single:
            keys[table.group(1)] = (single.group(1),)
    return keys


def translate(sql: str, primary_keys: dict[str, tuple[str, ...]]) -> str:
    """SQLite's spelling of a statement -> PostgreSQL's (placeholders, upserts, types, claims)."""
    pragma = _PRAGMA.match(sql.strip())
    if pragma:
        return ("SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema()"
                f" AND table_name = '{pragma.group(1)}'")
    out = sql.replace("%", "%%")
    if out.lstrip().startswith(("CREATE TABLE", "ALTER TABLE")):
        for pattern, replacement in _TYPES:
            out = pattern.sub(replacement, out)
    replace = _REPLACE.match(out)
    if replace:
        table, columns = replace.group(1), [c.strip() for c in replace.group(2).split(",")]
        key = primary_keys[table]
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
        out = "INSERT INTO" + out.lstrip()[len("INSERT OR REPLACE INTO"):]
        out += f" ON CONFLICT ({', '.join(key)}) " + (f"DO UPDATE SET {updates}" if updates else "DO NOTHING")
    out = re.sub(r"\bIS \?", "IS NOT DISTINCT FROM ?", out)
    out = re.sub(r"\bMAX\(([^(),]+),", r"GREATEST(\1,", out)  # SQLite's two-argument MAX and MIN
    out = re.sub(r"\bMIN\(([^(),]+),", r"LEAST(\1,", out)
    out = _CLAIM.sub(r"\1 FOR UPDATE SKIP LOCKED)", out)
    return out.replace("?", "%s")


def _params(params: Sequence[Any]) -> list[Any]:
    """SQLite stores booleans as integers, and so do these columns."""
    return [int(p) if isinstance(p, bool) else p for p in params]


class Connection:
    """What the stores call `conn`: `execute` on a held connection (a write transaction) or, for reads, on
    one borrowed from the pool for that statement."""

    def __init__(self, db: PostgresDatabase, held: psycopg.Connection[Any] | None = None) -> None:
        self.db = db
        self.held = held

    @property
    def in_transaction(self) -> bool:
        return self.held is not None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        statement = self.db.translated(sql)
        if self.held is not None:
            return self._run(self.held, statement, params)
        with self.db.pool.connection() as conn:
            return self._run(conn, statement, params)

    @staticmethod
    def _run(conn: psycopg.Connection[Any], statement: str, params: Sequence[Any]) -> Result:
        try:
            cur = conn.execute(statement, _params(params))
        except psycopg.errors.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc
        rows: list[Row] = []
        if cur.description is not None:
            names = {c.name: i for i, c in enumerate(cur.description)}
            rows = [Row(names, values) for values in cur.fetchall()]
        return Result(rows, cur.rowcount)

    def commit(self) -> None:
        """Reads autocommit and transactions commit when their block ends: nothing to do."""


class PostgresDatabase:
    """The SQLite `Database`'s interface over a psycopg connection pool."""

    integrity_errors: tuple[type[Exception], ...] = (IntegrityError,)

    def __init__(self, url: str, *, pool_size: int = 8, schema: list[str] | None = None) -> None:
        self.url = url
        self.pool = ConnectionPool(url, min_size=1, max_size=pool_size, open=True, name="voxgate",
                                   kwargs={"autocommit": True})
        self.pool.wait(timeout=30)
        self._keys: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self.add_schema(schema or SCHEMA)
        if schema is None:
            migrate(self)  # the same versioned migrations as SQLite's

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one database per process; statements are a fixed set
    def translated(self, sql: str) -> str:
        return translate(sql, self._keys)

    def conn(self) -> Connection:
        return Connection(self)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            yield Connection(self, conn)

    def add_schema(self, statements: list[str]) -> None:
        """Create the tables of a store (idempotent), and learn their primary keys for upserts."""
        with self._lock:
            self._keys.update(_primary_keys(statements))
        with self.transaction() as tx:
            for statement in statements:
                tx.execute(statement)

    def close(self) -> None:
        self.pool.close()
