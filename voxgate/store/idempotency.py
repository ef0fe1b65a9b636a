"""SQL for Idempotency-Key records. Functions take a connection so the settle step can combine them
with ledger writes in one transaction."""

from __future__ import annotations

import json
import secrets
import time

from voxgate.store.db import SqlConnection, SqlRow
from voxgate.store.interfaces import Claim, IdempotencyRecord, StoredResponse


def _record(row: SqlRow) -> IdempotencyRecord:
    response = None
    if row["state"] == "done":
        headers = [(str(k), str(v)) for k, v in json.loads(row["headers"] or "[]")]
        response = StoredResponse(status=int(row["status"]), headers=headers, body=bytes(row["body"] or b""),
                                  model=row["model"])
    return IdempotencyRecord(fingerprint=row["fingerprint"], state=row["state"], owner=row["owner"],
                             request_id=row["request_id"], heartbeat_at=row["heartbeat_at"], response=response)


def claim(conn: SqlConnection, key_id: str, idem_key: str, fingerprint: str, request_id: str,
          ttl_s: float, stale_s: float) -> Claim | IdempotencyRecord:
    """Inside a write transaction: take the key if nobody live holds it, else return the holder's record."""
    now = time.time()
    row = conn.execute("SELECT * FROM idempotency WHERE key_id = ? AND idem_key = ?", (key_id, idem_key)).fetchone()
    if row is not None and row["expires_at"] > now:
        abandoned = row["state"] == "running" and row["heartbeat_at"] < now - stale_s
        if not abandoned:
            return _record(row)
    owner = secrets.token_hex(8)
    conn.execute(
        "INSERT OR REPLACE INTO idempotency (key_id, idem_key, fingerprint, state, owner, request_id, created_at,"
        " heartbeat_at, expires_at) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
        (key_id, idem_key, fingerprint, owner, request_id, now, now, now + ttl_s),
    )
    return Claim(key_id=key_id, idem_key=idem_key, owner=owner)


def peek(conn: SqlConnection, key_id: str, idem_key: str) -> IdempotencyRecord | None:
    row = conn.execute("SELECT * FROM idempotency WHERE key_id = ? AND idem_key = ? AND expires_at > ?",
                       (key_id, idem_key, time.time())).fetchone()
    return None if row is None else _record(row)


def heartbeat(conn: SqlConnection, c: Claim) -> None:
    conn.execute("UPDATE idempotency SET heartbeat_at = ? WHERE key_id = ? AND idem_key = ? AND owner = ?",
                 (time.time(), c.key_id, c.idem_key, c.owner))


def complete(conn: SqlConnection, c: Claim, response: StoredResponse, ttl_s: float) -> bool:
    """Store the settled response; False if another owner took the key over meanwhile."""
    now = time.time()
    cur = conn.execute(
        "UPDATE idempotency SET state = 'done', status = ?, headers = ?, body = ?, model = ?, heartbeat_at = ?,"
        " expires_at = ? WHERE key_id = ? AND idem_key = ? AND owner = ?",
        (response.status, json.dumps(response.headers), response.body, response.model, now, now + ttl_s,
         c.key_id, c.idem_key, c.owner),
    )
    return cur.rowcount > 0


def release(conn: SqlConnection, c: Claim) -> None:
    """Forget the claim (the request failed or must not be stored), so a retry runs again."""
    conn.execute("DELETE FROM idempotency WHERE key_id = ? AND idem_key = ? AND owner = ? AND state = 'running'",
                 (c.key_id, c.idem_key, c.owner))


def purge_expired(conn: SqlConnection) -> int:
    return conn.execute("DELETE FROM idempotency WHERE expires_at <= ?", (time.time(),)).rowcount
