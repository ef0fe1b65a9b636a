"""Responses API conversations in the SQLite file: each response's messages, by key and id."""

from __future__ import annotations

import json

from voxgate.store.db import SqlDatabase
from voxgate.store.interfaces import StoredConversation

SCHEMA: list[str] = [
    """CREATE TABLE IF NOT EXISTS responses (
        id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        messages TEXT NOT NULL,
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS responses_created ON responses (created_at)",
]


class SqliteResponseStore:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        db.add_schema(SCHEMA)

    def save(self, record: StoredConversation) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO responses (id, key_id, messages, created_at) VALUES (?, ?, ?, ?)",
                         (record.id, record.key_id, json.dumps(record.messages), record.created_at))

    def get(self, key_id: str, response_id: str) -> StoredConversation | None:
        row = self.db.conn().execute("SELECT * FROM responses WHERE id = ? AND key_id = ?",
                                     (response_id, key_id)).fetchone()
        if row is None:
            return None
        return StoredConversation(row["id"], row["key_id"], list(json.loads(row["messages"])), row["created_at"])

    def purge(self, older_than: float) -> int:
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM responses WHERE created_at < ?", (older_than,)).rowcount
