"""Webhook deliveries: a durable outbox in the SQLite file and the sender that drains it.

An event row is written in the same transaction that finishes its job, so a crash can delay a
webhook but never lose it. Delivery is at-least-once: a sender that dies after POSTing but before
recording the outcome leaves a claim that expires, and the event goes out again (receivers dedupe on
the event `id`). Non-2xx answers and timeouts are retried with exponential backoff, up to
`max_attempts`; every attempt is logged and listed by GET /v1/webhooks/deliveries."""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from voxgate import __version__
from voxgate.store.db import Database
from voxgate.webhooks import SIGNATURE_HEADER, signature_header

log = logging.getLogger("voxgate.webhooks")

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
    """CREATE TABLE IF NOT EXISTS webhook_defaults (
        key_id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        updated_at REAL NOT NULL
    )""",
]

SECRET_FILE = "webhook_secret"
MAX_ERROR_CHARS = 500


def load_or_create_secret(data_dir: Path, configured: str | None = None) -> str:
    """VOXGATE_WEBHOOK_SECRET if set, else the secret in the data dir, created once (mode 0600).
    O_EXCL makes concurrent first starts agree on one secret."""
    if configured:
        return configured
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it right now
            secret = path.read_text().strip()
            if secret:
                return secret
            time.sleep(0.02)
        raise RuntimeError(f"the webhook secret file {path} is empty") from None
    secret = "whsec_" + secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    return secret


def validate_url(url: str) -> str | None:
    """None if `url` can receive webhooks, else why not (for a 400)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "webhook_url must be an absolute http(s) URL"
    if len(url) > 2048:
        return "webhook_url is longer than 2048 characters"
    return None


def new_event(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": "evt_" + secrets.token_hex(12), "object": "event", "type": event_type,
            "created": int(time.time()), "data": data}


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 8
    base_delay_s: float = 5.0
    max_delay_s: float = 3600.0
    timeout_s: float = 10.0

    def backoff(self, attempts: int) -> float:
        """Delay after the `attempts`-th failure: base, 2x, 4x, ... capped."""
        return min(self.base_delay_s * float(2 ** max(0, attempts - 1)), self.max_delay_s)


class DeliveryStore:
    def __init__(self, db: Database, policy: DeliveryPolicy) -> None:
        self.db = db
        self.policy = policy
        db.add_schema(SCHEMA)

    # ---- the outbox ----

    def enqueue(self, conn: sqlite3.Connection, *, key_id: str, url: str, event: dict[str, Any],
                job_id: str | None, resend_of: str | None = None) -> str:
        """Insert a pending delivery inside the caller's transaction; returns its id."""
        delivery_id = "whd_" + secrets.token_hex(12)
        now = time.time()
        conn.execute(
            "INSERT INTO webhook_deliveries (id, key_id, event_id, event_type, job_id, url, payload, status,"
            " max_attempts, next_attempt_at, created_at, resend_of)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
            (delivery_id, key_id, event["id"], event["type"], job_id, url,
             json.dumps(event, ensure_ascii=False, separators=(",", ":")), self.policy.max_attempts, now, now,
             resend_of),
        )
        return delivery_id

    def claim_due(self) -> sqlite3.Row | None:
        """Take one due delivery for one attempt; the claim outlives the attempt's timeout."""
        now = time.time()
        with self.db.transaction() as conn:
            rows = conn.execute(
                "UPDATE webhook_deliveries SET claimed_until = ? WHERE id = ("
                " SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?"
                " AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY next_attempt_at LIMIT 1) RETURNING *",
                (now + self.policy.timeout_s + 30, now, now),
            ).fetchall()
        return rows[0] if rows else None

    def next_due_in(self) -> float | None:
        row = self.db.conn().execute(
            "SELECT MIN(MAX(next_attempt_at, COALESCE(claimed_until, 0))) AS due FROM webhook_deliveries"
            " WHERE status = 'pending'").fetchone()
        return None if row is None or row["due"] is None else max(0.0, row["due"] - time.time())

    def record(self, row: sqlite3.Row, status_code: int | None, error: str | None, duration_ms: float) -> str:
        """Log one attempt and decide: succeeded, pending (retry later) or failed (attempts used up)."""
        now = time.time()
        attempt = int(row["attempts"]) + 1
        ok = status_code is not None and 200 <= status_code < 300
        if ok:
            status, next_at = "succeeded", None
        elif attempt >= int(row["max_attempts"]):
            status, next_at = "failed", None
        else:
            status, next_at = "pending", now + self.policy.backoff(attempt)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms)"
                " VALUES (?, ?, ?, ?, ?, ?)", (row["id"], attempt, now, status_code, error, round(duration_ms, 1)))
            conn.execute(
                "UPDATE webhook_deliveries SET attempts = ?, status = ?, next_attempt_at = ?, claimed_until = NULL,"
                " last_status_code = ?, last_error = ?, delivered_at = ? WHERE id = ?",
                (attempt, status, next_at, status_code, error, now if ok else None, row["id"]))
        return status

    # ---- what the API shows ----

    def public(self, row: sqlite3.Row, attempts: list[sqlite3.Row]) -> dict[str, Any]:
        return {
            "id": row["id"], "object": "webhook.delivery", "event_id": row["event_id"],
            "event_type": row["event_type"], "job_id": row["job_id"], "url": row["url"], "status": row["status"],
            "attempts": row["attempts"], "max_attempts": row["max_attempts"],
            "next_attempt_at": row["next_attempt_at"] if row["status"] == "pending" else None,
            "delivered_at": row["delivered_at"], "last_status_code": row["last_status_code"],
            "last_error": row["last_error"], "created_at": row["created_at"], "resend_of": row["resend_of"],
            "attempt_log": [{"attempt": a["attempt"], "at": a["at"], "status_code": a["status_code"],
                             "error": a["error"], "duration_ms": a["duration_ms"]} for a in attempts],
        }

    def _attempts(self, ids: list[str]) -> dict[str, list[sqlite3.Row]]:
        out: dict[str, list[sqlite3.Row]] = {i: [] for i in ids}
        if ids:
            marks = ",".join("?" * len(ids))
            for a in self.db.conn().execute(
                    f"SELECT * FROM webhook_attempts WHERE delivery_id IN ({marks}) ORDER BY attempt", ids):
                out[a["delivery_id"]].append(a)
        return out

    def get(self, delivery_id: str, key_id: str) -> dict[str, Any] | None:
        row = self.db.conn().execute("SELECT * FROM webhook_deliveries WHERE id = ? AND key_id = ?",
                                     (delivery_id, key_id)).fetchone()
        return None if row is None else self.public(row, self._attempts([row["id"]])[row["id"]])

    def list(self, key_id: str, *, job_id: str | None = None, status: str | None = None,
             limit: int = 20) -> list[dict[str, Any]]:
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
        return [self.public(r, attempts[r["id"]]) for r in rows]

    def resend(self, delivery_id: str, key_id: str) -> dict[str, Any] | None:
        """A new delivery of the same event (same event id and body) to the same URL."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT * FROM webhook_deliveries WHERE id = ? AND key_id = ?",
                               (delivery_id, key_id)).fetchone()
            if row is None:
                return None
            new_id = self.enqueue(conn, key_id=key_id, url=row["url"], event=json.loads(row["payload"]),
                                  job_id=row["job_id"], resend_of=row["id"])
        return self.get(new_id, key_id)

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


class WebhookSender:
    """Background threads that POST due deliveries, signed, and record each outcome."""

    def __init__(self, store: DeliveryStore, secret: str, workers: int = 2) -> None:
        self.store = store
        self.secret = secret
        self.workers = workers
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._http: httpx.Client | None = None

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._http = httpx.Client(timeout=self.store.policy.timeout_s, follow_redirects=False,
                                  headers={"user-agent": f"voxgate-webhooks/{__version__}"})
        for i in range(self.workers):
            thread = threading.Thread(target=self._loop, name=f"voxgate-webhooks-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        if self._http is not None:
            self._http.close()
            self._http = None

    def wake(self) -> None:
        """New deliveries are queued: look now instead of at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                row = self.store.claim_due()
                if row is not None:
                    self._deliver(row)
                    continue
                due = self.store.next_due_in()
            except Exception:  # a locked or broken database must not end the sender
                log.exception("webhook sender error")
                due = 1.0
            self._wake.wait(timeout=min(due if due is not None else 5.0, 5.0))
            self._wake.clear()

    def _deliver(self, row: sqlite3.Row) -> None:
        body = row["payload"].encode()
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: signature_header(body, self.secret),
            "voxgate-event-id": row["event_id"],
            "voxgate-event-type": row["event_type"],
            "voxgate-delivery-id": row["id"],
            "voxgate-delivery-attempt": str(int(row["attempts"]) + 1),
        }
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        try:
            assert self._http is not None
            response = self._http.post(row["url"], content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        elapsed = (time.perf_counter() - started) * 1000
        outcome = self.store.record(row, status_code, error, elapsed)
        log.info(json.dumps({"event": "webhook_delivery", "delivery_id": row["id"], "event_id": row["event_id"],
                             "event_type": row["event_type"], "url": row["url"], "attempt": int(row["attempts"]) + 1,
                             "status_code": status_code, "outcome": outcome, "ms": round(elapsed, 1),
                             "error": error}))
