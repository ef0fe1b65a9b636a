"""Read a live server's database from a test, whichever store it runs on: its SQLite file, or the PostgreSQL
database VOXGATE_DATABASE_URL names (make test's second pass)."""

from __future__ import annotations

import sqlite3
from typing import Any

from tests.conftest import LiveServer


def query(server: LiveServer, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]:
    """Rows as dicts; `sql` in SQLite's spelling (`?` placeholders)."""
    url = server.env.get("VOXGATE_DATABASE_URL")
    if url:
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(url, row_factory=dict_row) as conn:
            return list(conn.execute(sql.replace("?", "%s"), list(params)).fetchall())
    conn = sqlite3.connect(server.data_dir / "voxgate.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def on_postgres(server: LiveServer) -> bool:
    return bool(server.env.get("VOXGATE_DATABASE_URL"))
