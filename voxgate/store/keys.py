"""API keys, stored as SHA-256 hashes: the plain key is shown once at creation and never kept.

A key carries its policy: admin or not, an optional pipeline (the one model it may call), an optional
credit balance (None = unlimited, still metered) and optional per-key rate limits (None = server default,
0 = unlimited)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from voxgate.store.db import SqlDatabase, SqlRow

KEY_PREFIX = "vg_live_"
NANO = 1_000_000_000  # credits are kept as integer nano-credits


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def to_nano(credits: float) -> int:
    return int(round(credits * NANO))


def from_nano(nano: int) -> float:
    return round(nano / NANO, 9)


class _Unset:
    """Marks an update field the caller did not mention (None means "clear it")."""


UNSET: Any = _Unset()


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    prefix: str
    created_at: float
    revoked_at: float | None = None
    admin: bool = False
    pipeline: str | None = None
    credits_nano: int | None = None
    rpm: int | None = None
    concurrency: int | None = None

    @property
    def credits(self) -> float | None:
        return None if self.credits_nano is None else from_nano(self.credits_nano)

    def public(self) -> dict[str, Any]:
        """The JSON shape the admin API returns (never the key or its hash)."""
        return {
            "id": self.id, "object": "api_key", "name": self.name, "prefix": self.prefix,
            "created_at": int(self.created_at), "revoked_at": int(self.revoked_at) if self.revoked_at else None,
            "admin": self.admin, "pipeline": self.pipeline, "credits": self.credits,
            "rpm": self.rpm, "concurrency": self.concurrency,
        }


def _record(row: SqlRow) -> ApiKey:
    return ApiKey(
        id=row["id"], name=row["name"], prefix=row["prefix"], created_at=row["created_at"],
        revoked_at=row["revoked_at"], admin=bool(row["admin"]), pipeline=row["pipeline"],
        credits_nano=row["credits_nano"], rpm=row["rpm"], concurrency=row["concurrency"],
    )


MAX_NANO = 2**62  # the largest balance kept, in nano-credits (SQLite integers are 64-bit)


class KeyStore:
    """The SQLite implementation of `voxgate.store.interfaces.KeyRepository`."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db

    def create(self, name: str, *, admin: bool = False, pipeline: str | None = None, credits: float | None = None,
               rpm: int | None = None, concurrency: int | None = None) -> tuple[ApiKey, str]:
        """Create a key; returns its record and the plain key (the only time it exists)."""
        plain = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(id="key_" + secrets.token_hex(8), name=name, prefix=plain[:12], created_at=time.time(),
                        admin=admin, pipeline=pipeline, credits_nano=None if credits is None else to_nano(credits),
                        rpm=rpm, concurrency=concurrency)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO api_keys (id, name, key_hash, prefix, created_at, admin, pipeline, credits_nano, rpm,"
                " concurrency) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.id, record.name, hash_key(plain), record.prefix, record.created_at, int(admin), pipeline,
                 record.credits_nano, rpm, concurrency),
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
        return _record(row)

    def get(self, key_id: str) -> ApiKey | None:
        row = self.db.conn().execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        return None if row is None else _record(row)

    def list(self) -> list[ApiKey]:
        rows = self.db.conn().execute("SELECT * FROM api_keys ORDER BY created_at").fetchall()
        return [_record(r) for r in rows]

    def revoke(self, key_id: str) -> bool:
        with self.db.transaction() as conn:
            cur = conn.execute("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                               (time.time(), key_id))
        return cur.rowcount > 0

    def update(self, key_id: str, *, name: Any = UNSET, admin: Any = UNSET, pipeline: Any = UNSET,
               credits: Any = UNSET, add_credits: float | None = None, rpm: Any = UNSET,
               concurrency: Any = UNSET) -> ApiKey | None:
        """Change a live key's policy; `add_credits` tops up (or starts) a balance atomically."""
        if credits is not UNSET and add_credits is not None:
            raise ValueError("set credits or add credits, not both")
        sets: list[str] = []
        args: list[Any] = []
        for column, value in (("name", name), ("pipeline", pipeline), ("rpm", rpm), ("concurrency", concurrency)):
            if value is not UNSET:
                sets.append(f"{column} = ?")
                args.append(value)
        if admin is not UNSET:
            sets.append("admin = ?")
            args.append(int(bool(admin)))
        if credits is not UNSET:
            sets.append("credits_nano = ?")
            args.append(None if credits is None else to_nano(credits))
        if add_credits is not None:
            # Kept within what the column holds, however often a balance is topped up.
            sets.append("credits_nano = MAX(-?, MIN(?, COALESCE(credits_nano, 0) + ?))")
            args += [MAX_NANO, MAX_NANO, to_nano(add_credits)]
        with self.db.transaction() as conn:
            row = conn.execute("SELECT id FROM api_keys WHERE id = ? AND revoked_at IS NULL", (key_id,)).fetchone()
            if row is None:
                return None
            if sets:
                conn.execute(f"UPDATE api_keys SET {', '.join(sets)} WHERE id = ?", (*args, key_id))
        return self.get(key_id)
