"""Webhook deliveries in the SQLite file: a durable outbox and the log of every attempt.

An event row is written in the same transaction that finishes its job (`insert_delivery` takes the
caller's connection), so a crash can delay a webhook but never lose it. The sender (voxgate.jobs)
decides retries; this module only persists what it decided."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from voxgate.store.db import SqlConnection, SqlDatabase, SqlRow
from voxgate.store.interfaces import Delivery, DeliveryAttempt, OutboundEvent, ResendRefused, SigningSecret

SCHEMA: list[str] = [
    """CREATE TABLE IF NOT EXISTS webhook_deliveries (
        id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        job_id TEXT,
        url TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        next_attempt_at REAL,
        claimed_until REAL,
        last_status_code INTEGER,
        last_error TEXT,
        created_at REAL NOT NULL,
        delivered_at REAL,
        resend_of TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_key ON webhook_deliveries (key_id, created_at)",
    """CREATE TABLE IF NOT EXISTS webhook_attempts (
        delivery_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        at REAL NOT NULL,
        status_code INTEGER,
        error TEXT,
        duration_ms REAL,
        PRIMARY KEY (delivery_id, attempt)
    )""",
    """CREATE TABLE IF NOT EXISTS webhook_secrets (
        key_id TEXT PRIMARY KEY,
        secret TEXT NOT NULL,
        previous TEXT,
        rotated_at REAL,
        created_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS webhook_defaults (
        key_id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        updated_at REAL NOT NULL
    )""",
]



def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _not_in(keys: frozenset[str]) -> tuple[str, tuple[str, ...]]:
    """An `AND key_id NOT IN (...)` clause and its arguments."""
    if not keys:
        return "", ()
    return f" AND key_id NOT IN ({','.join('?' * len(keys))})", tuple(sorted(keys))


def insert_delivery(conn: SqlConnection, out: OutboundEvent, resend_of: str | None = None) -> str:
    """Insert a pending delivery inside the caller's transaction; returns its id."""
    delivery_id = "whd_" + secrets.token_hex(12)
    now = time.time()
    conn.execute(
        "INSERT INTO webhook_deliveries (id, key_id, event_id, event_type, job_id, url, payload, status,"
        " max_attempts, next_attempt_at, created_at, resend_of)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
        (delivery_id, out.key_id, out.event["id"], out.event["type"], out.job_id, out.url,
         json.dumps(out.event, ensure_ascii=False, separators=(",", ":")), out.max_attempts, now, now, resend_of),
    )
    return delivery_id


def _delivery(row: SqlRow, attempts: list[SqlRow] | None = None) -> Delivery:
    return Delivery(
        id=row["id"], key_id=row["key_id"], event_id=row["event_id"], event_type=row["event_type"],
        job_id=row["job_id"], url=row["url"], payload=row["payload"], status=row["status"],
        attempts=int(row["attempts"]), max_attempts=int(row["max_attempts"]),
        next_attempt_at=row["next_attempt_at"], last_status_code=row["last_status_code"],
        last_error=row["last_error"], created_at=row["created_at"], delivered_at=row["delivered_at"],
        resend_of=row["resend_of"],
        attempt_log=tuple(DeliveryAttempt(a["attempt"], a["at"], a["status_code"], a["error"], a["duration_ms"])
                          for a in attempts or ()),
    )


class SqliteDeliveryStore:
    """The embedded `voxgate.store.interfaces.DeliveryStore`."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        db.add_schema(SCHEMA)

    # ---- the outbox ----

    def claim_due(self, hold_s: float, busy_keys: frozenset[str] = frozenset()) -> Delivery | None:
        """Take the longest-due delivery of a key not in `busy_keys` for one attempt; the claim must outlive
        the attempt's deadline. Skipping keys that have an attempt in flight shares the senders fairly: one
        key's slow receiver holds at most one of them."""
        now = time.time()
        skip, args = _not_in(busy_keys)
        with self.db.transaction() as conn:
            rows = conn.execute(
                "UPDATE webhook_deliveries SET claimed_until = ? WHERE id = ("
                " SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?"
                f" AND (claimed_until IS NULL OR claimed_until < ?){skip} ORDER BY next_attempt_at LIMIT 1)"
                " RETURNING *",
                (now + hold_s, now, now, *args),
            ).fetchall()
        return _delivery(rows[0]) if rows else None

    def next_due_in(self, busy_keys: frozenset[str] = frozenset()) -> float | None:
        skip, args = _not_in(busy_keys)
        row = self.db.conn().execute(
            "SELECT MIN(MAX(next_attempt_at, COALESCE(claimed_until, 0))) AS due FROM webhook_deliveries"
            f" WHERE status = 'pending'{skip}", args).fetchone()
        return None if row is None or row["due"] is None else max(0.0, row["due"] - time.time())

    def record(self, delivery: Delivery, status_code: int | None, error: str | None, duration_ms: float,
               status: str, next_attempt_at: float | None) -> None:
        now = time.time()
        attempt = delivery.attempts + 1
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms)"
                " VALUES (?, ?, ?, ?, ?, ?)", (delivery.id, attempt, now, status_code, error, round(duration_ms, 1)))
            conn.execute(
                "UPDATE webhook_deliveries SET attempts = ?, status = ?, next_attempt_at = ?, claimed_until = NULL,"
                " last_status_code = ?, last_error = ?, delivered_at = ? WHERE id = ?",
                (attempt, status, next_attempt_at, status_code, error, now if status == "succeeded" else None,
                 delivery.id))

    # ---- what the API shows ----

    def _attempts(self, ids: list[str]) -> dict[str, list[SqlRow]]:
        out: dict[str, list[SqlRow]] = {i: [] for i in ids}
        if ids:
            marks = ",".join("?" * len(ids))
            for a in self.db.conn().execute(
                    f"SELECT * FROM webhook_attempts WHERE delivery_id IN ({marks}) ORDER BY attempt", ids):
                out[a["delivery_id"]].append(a)
        return out

    def get(self, delivery_id: str, key_id: str) -> Delivery | None:
        row = self.db.conn().execute("SELECT * FROM webhook_deliveries WHERE id = ? AND key_id = ?",
                                     (delivery_id, key_id)).fetchone()
        return None if row is None else _delivery(row, self._attempts([row["id"]])[row["id"]])

    def count_by_status(self) -> dict[str, int]:
        rows = self.db.conn().execute("SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status")
        return {row["status"]: int(row["n"]) for row in rows}

    def list(self, key_id: str, *, job_id: str | None = None, status: str | None = None,
             limit: int = 20) -> list[Delivery]:
        sql, args = "SELECT * FROM webhook_deliveries WHERE key_id = ?", [key_id]
        if job_id:
            sql += " AND job_id = ?"
            args.append(job_id)
        if status:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        rows = self.db.conn().execute(sql, (*args, limit)).fetchall()
        attempts = self._attempts([r["id"] for r in rows])
        return [_delivery(r, attempts[r["id"]]) for r in rows]

    def resend(self, delivery_id: str, key_id: str, max_resends: int, max_pending: int) -> Delivery | None:
        """A new delivery of the same event; ResendRefused past `max_resends` of one delivery or with
        `max_pending` of the key's deliveries already queued."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT * FROM webhook_deliveries WHERE id = ? AND key_id = ?",
                               (delivery_id, key_id)).fetchone()
            if row is None:
                return None
            original = row["resend_of"] or row["id"]
            resent = conn.execute("SELECT COUNT(*) FROM webhook_deliveries WHERE resend_of = ?",
                                  (original,)).fetchone()[0]
            if resent >= max_resends:
                raise ResendRefused(f"this delivery was already resent {resent} times; the limit is {max_resends}")
            pending = conn.execute("SELECT COUNT(*) FROM webhook_deliveries WHERE key_id = ? AND status = 'pending'",
                                   (key_id,)).fetchone()[0]
            if pending >= max_pending:
                raise ResendRefused(f"this key already has {pending} deliveries queued; retry when they are done")
            event: dict[str, Any] = json.loads(row["payload"])
            out = OutboundEvent(key_id=key_id, url=row["url"], event=event, job_id=row["job_id"],
                                max_attempts=int(row["max_attempts"]))
            new_id = insert_delivery(conn, out, resend_of=original)
        return self.get(new_id, key_id)

    # ---- per-key signing secrets ----

    def signing_secret(self, key_id: str) -> SigningSecret:
        """The key's secret, created on first use."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT * FROM webhook_secrets WHERE key_id = ?", (key_id,)).fetchone()
            if row is None:
                conn.execute("INSERT INTO webhook_secrets (key_id, secret, created_at) VALUES (?, ?, ?)",
                             (key_id, new_secret(), time.time()))
                row = conn.execute("SELECT * FROM webhook_secrets WHERE key_id = ?", (key_id,)).fetchone()
        return SigningSecret(row["secret"], row["previous"], row["rotated_at"])

    def rotate_secret(self, key_id: str) -> SigningSecret:
        """A new secret for the key; the one it replaces is kept as `previous`."""
        current = self.signing_secret(key_id)
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute("UPDATE webhook_secrets SET secret = ?, previous = ?, rotated_at = ? WHERE key_id = ?",
                         (new_secret(), current.secret, now, key_id))
        return self.signing_secret(key_id)

    # ---- per-key default URL ----

    def default_url(self, key_id: str) -> str | None:
        row = self.db.conn().execute("SELECT url FROM webhook_defaults WHERE key_id = ?", (key_id,)).fetchone()
        return None if row is None else str(row["url"])

    def set_default_url(self, key_id: str, url: str | None) -> None:
        with self.db.transaction() as conn:
            if url is None:
                conn.execute("DELETE FROM webhook_defaults WHERE key_id = ?", (key_id,))
            else:
                conn.execute("INSERT OR REPLACE INTO webhook_defaults (key_id, url, updated_at) VALUES (?, ?, ?)",
                             (key_id, url, time.time()))
