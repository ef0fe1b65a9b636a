"""API keys, stored as SHA-256 hashes: the plain key is shown once at creation and never kept."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from voxgate.store.db import Database

KEY_PREFIX = "vg_live_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    prefix: str
    created_at: float
    revoked_at: float | None = None


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, name: str) -> tuple[ApiKey, str]:
        """Create a key; returns its record and the plain key (the only time it exists)."""
        plain = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(id="key_" + secrets.token_hex(8), name=name, prefix=plain[:12], created_at=time.time())
        with self.db.conn() as conn:
            conn.execute(
                "INSERT INTO api_keys (id, name, key_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)",
                (record.id, record.name, hash_key(plain), record.prefix, record.created_at),
            )
        return record, plain

    def authenticate(self, plain: str) -> ApiKey | None:
        """Find the live key matching `plain`; the lookup is by hash, the final check constant-time."""
        digest = hash_key(plain)
        row = self.db.conn().execute(
            "SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", (digest,)
        ).fetchone()
        if row is None or not hmac.compare_digest(row["key_hash"], digest):
            return None
        return ApiKey(row["id"], row["name"], row["prefix"], row["created_at"], row["revoked_at"])

    def list(self) -> list[ApiKey]:
        rows = self.db.conn().execute("SELECT * FROM api_keys ORDER BY created_at").fetchall()
        return [ApiKey(r["id"], r["name"], r["prefix"], r["created_at"], r["revoked_at"]) for r in rows]

    def revoke(self, key_id: str) -> bool:
        with self.db.conn() as conn:
            cur = conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                               (time.time(), key_id))
        return cur.rowcount > 0
