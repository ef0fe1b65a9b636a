"""Versioned schema migrations (issue 16), the same on SQLite and PostgreSQL: a new database records every
version, a database from before versions were recorded is brought up to date once, and opening it again (or
from a second process) applies nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from voxgate.store.db import MIGRATIONS, Database, SqlDatabase, migrate
from voxgate.store.jobs import SCHEMA as JOB_SCHEMA

OLD_KEYS = ("CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, key_hash TEXT NOT NULL "
            "UNIQUE, prefix TEXT NOT NULL, created_at REAL NOT NULL, revoked_at REAL)")
OLD_JOBS = JOB_SCHEMA[0].replace("request TEXT NOT NULL", "fields TEXT NOT NULL")


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[list[str] | None], SqlDatabase]:
    """Open the same database again and again (`schema` given: create only those tables, no migrations)."""
    if request.param == "sqlite":
        return lambda schema=None: Database(tmp_path / "db.sqlite3", schema)
    from voxgate.store.postgres import PostgresDatabase

    url = request.getfixturevalue("postgres").new_database()
    return lambda schema=None: PostgresDatabase(url, pool_size=2, schema=schema)


def _versions(db: SqlDatabase) -> list[int]:
    return sorted(int(r["version"]) for r in db.conn().execute("SELECT version FROM schema_migrations"))


def _columns(db: SqlDatabase, table: str) -> set[str]:
    return {r["name"] for r in db.conn().execute(f"PRAGMA table_info({table})")}


def test_a_new_database_records_every_version(opener: Callable[..., Any]) -> None:
    db = opener()
    assert _versions(db) == [m.version for m in MIGRATIONS] == [1, 2]
    assert {"admin", "pipeline", "credits_nano", "rpm", "concurrency"} <= _columns(db, "api_keys")
    assert migrate(opener()) == []  # a second process finds nothing to do


def test_an_old_database_is_brought_up_to_date_once(opener: Callable[..., Any]) -> None:
    old = opener([OLD_KEYS, OLD_JOBS])  # the tables as an early release made them, no versions recorded
    old.add_schema(["INSERT INTO api_keys (id, name, key_hash, prefix, created_at) VALUES "
                    "('key_old', 'old', 'hash', 'vg_live_xxxx', 1.0)"])
    assert "admin" not in _columns(old, "api_keys") and "fields" in _columns(old, "transcription_jobs")
    db = opener()
    assert _versions(db) == [1, 2]
    assert "admin" in _columns(db, "api_keys")
    assert "request" in _columns(db, "transcription_jobs") and "fields" not in _columns(db, "transcription_jobs")
    (row,) = db.conn().execute("SELECT id, admin FROM api_keys").fetchall()
    assert row["id"] == "key_old" and row["admin"] == 0  # the row kept, the new column at its default
    assert migrate(opener()) == []
