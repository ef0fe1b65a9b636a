"""Voice pipelines and their conversations in the SQLite file."""

from __future__ import annotations

import json
import time

from voxgate.store.db import SqlDatabase, SqlRow
from voxgate.store.interfaces import Pipeline, PipelineExists

SCHEMA: list[str] = [
    """CREATE TABLE IF NOT EXISTS pipelines (
        id TEXT PRIMARY KEY,
        config TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    # one row per (key, conversation): the bounded message history a pipeline answers with
    """CREATE TABLE IF NOT EXISTS conversations (
        key_id TEXT NOT NULL,
        id TEXT NOT NULL,
        pipeline_id TEXT NOT NULL,
        messages TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (key_id, id)
    )""",
]
_FIELDS = ("stt_model", "llm_model", "tts_model", "voice", "system_prompt", "language", "max_reply_tokens",
           "temperature")


def _pipeline(row: SqlRow) -> Pipeline:
    config = json.loads(row["config"])
    return Pipeline(id=row["id"], created_at=row["created_at"], updated_at=row["updated_at"],
                    **{name: config[name] for name in _FIELDS if name in config})


def _config(pipeline: Pipeline) -> str:
    return json.dumps({name: getattr(pipeline, name) for name in _FIELDS})


class SqlitePipelineStore:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        db.add_schema(SCHEMA)

    def create(self, pipeline: Pipeline) -> None:
        try:
            with self.db.transaction() as conn:
                conn.execute("INSERT INTO pipelines (id, config, created_at, updated_at) VALUES (?, ?, ?, ?)",
                             (pipeline.id, _config(pipeline), pipeline.created_at, pipeline.updated_at))
        except self.db.integrity_errors:
            raise PipelineExists(pipeline.id) from None

    def get(self, pipeline_id: str) -> Pipeline | None:
        row = self.db.conn().execute("SELECT * FROM pipelines WHERE id = ?", (pipeline_id,)).fetchone()
        return _pipeline(row) if row is not None else None

    def list_all(self) -> list[Pipeline]:
        return [_pipeline(r) for r in self.db.conn().execute("SELECT * FROM pipelines ORDER BY created_at, id")]

    def update(self, pipeline: Pipeline) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE pipelines SET config = ?, updated_at = ? WHERE id = ?",
                         (_config(pipeline), pipeline.updated_at, pipeline.id))

    def delete(self, pipeline_id: str) -> bool:
        with self.db.transaction() as conn:
            gone = conn.execute("DELETE FROM pipelines WHERE id = ?", (pipeline_id,)).rowcount > 0
            conn.execute("DELETE FROM conversations WHERE pipeline_id = ?", (pipeline_id,))
        return gone

    def history(self, key_id: str, conversation_id: str) -> list[dict[str, str]]:
        row = self.db.conn().execute("SELECT messages FROM conversations WHERE key_id = ? AND id = ?",
                                     (key_id, conversation_id)).fetchone()
        return list(json.loads(row["messages"])) if row is not None else []

    def save_history(self, key_id: str, conversation_id: str, pipeline_id: str,
                     messages: list[dict[str, str]]) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO conversations (key_id, id, pipeline_id, messages, updated_at)"
                         " VALUES (?, ?, ?, ?, ?)",
                         (key_id, conversation_id, pipeline_id, json.dumps(messages), time.time()))
