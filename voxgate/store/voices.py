"""Custom voices and the voice-match cache in the SQLite file."""

from __future__ import annotations

import time

from voxgate.store.db import SqlDatabase, SqlRow
from voxgate.store.interfaces import CustomVoice, VoiceLimitReached, VoiceMatchRecord

SCHEMA: list[str] = [
    """CREATE TABLE IF NOT EXISTS custom_voices (
        id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        name TEXT NOT NULL,
        consent TEXT NOT NULL,
        model TEXT NOT NULL,
        voice TEXT NOT NULL,
        language TEXT,
        gender TEXT,
        similarity REAL NOT NULL,
        sample_sha256 TEXT NOT NULL,
        created_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS custom_voices_key ON custom_voices (key_id, created_at)",
    """CREATE TABLE IF NOT EXISTS voice_matches (
        sample_sha256 TEXT NOT NULL,
        model TEXT NOT NULL,
        voice TEXT NOT NULL,
        similarity REAL NOT NULL,
        details TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (sample_sha256, model)
    )""",
]

_COLUMNS = ("id, key_id, name, consent, model, voice, language, gender, similarity, sample_sha256, created_at")


def _voice(row: SqlRow) -> CustomVoice:
    return CustomVoice(id=row["id"], key_id=row["key_id"], name=row["name"], consent=row["consent"],
                       model=row["model"], voice=row["voice"], language=row["language"], gender=row["gender"],
                       similarity=float(row["similarity"]), sample_sha256=row["sample_sha256"],
                       created_at=float(row["created_at"]))


class SqliteVoiceStore:
    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        db.add_schema(SCHEMA)

    def create(self, voice: CustomVoice, max_per_key: int) -> CustomVoice:
        with self.db.transaction() as conn:
            (count,) = conn.execute("SELECT COUNT(*) FROM custom_voices WHERE key_id = ?", (voice.key_id,)).fetchone()
            if count >= max_per_key:
                raise VoiceLimitReached(max_per_key)
            conn.execute(f"INSERT INTO custom_voices ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (voice.id, voice.key_id, voice.name, voice.consent, voice.model, voice.voice, voice.language,
                          voice.gender, voice.similarity, voice.sample_sha256, voice.created_at))
        return voice

    def get(self, voice_id: str) -> CustomVoice | None:
        row = self.db.conn().execute(f"SELECT {_COLUMNS} FROM custom_voices WHERE id = ?", (voice_id,)).fetchone()
        return _voice(row) if row is not None else None

    def list(self, key_id: str | None) -> list[CustomVoice]:
        if key_id is None:
            rows = self.db.conn().execute(f"SELECT {_COLUMNS} FROM custom_voices ORDER BY created_at, id")
        else:
            rows = self.db.conn().execute(
                f"SELECT {_COLUMNS} FROM custom_voices WHERE key_id = ? ORDER BY created_at, id", (key_id,))
        return [_voice(r) for r in rows.fetchall()]

    def delete(self, voice_id: str) -> bool:
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM custom_voices WHERE id = ?", (voice_id,)).rowcount > 0

    def cached_match(self, sample_sha256: str, model: str) -> VoiceMatchRecord | None:
        row = self.db.conn().execute(
            "SELECT sample_sha256, model, voice, similarity, details FROM voice_matches "
            "WHERE sample_sha256 = ? AND model = ?", (sample_sha256, model)).fetchone()
        if row is None:
            return None
        return VoiceMatchRecord(row["sample_sha256"], row["model"], row["voice"], float(row["similarity"]),
                                row["details"])

    def remember_match(self, record: VoiceMatchRecord) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO voice_matches (sample_sha256, model, voice, similarity, details, "
                         "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                         (record.sample_sha256, record.model, record.voice, record.similarity, record.details,
                          time.time()))
