"""SQL for credit holds and the usage ledger. A hold reserves part of a balance while a request runs,
so concurrent requests (in any process) cannot spend the same credits twice."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from voxgate.store.db import SqlConnection
from voxgate.store.interfaces import Charge, InsufficientCredits, UsageRow

HOLD_TTL_S = 6 * 3600  # a hold older than this belongs to a crashed process and no longer counts


def utc_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


def reserve(conn: SqlConnection, key_id: str, request_id: str, cost_nano: int,
            minimum_nano: int | None = None) -> int | None:
    """Inside a write transaction: hold `cost_nano` (replacing this request's earlier hold) and return the amount
    held; None when the key is unlimited. With `minimum_nano`, hold what is available up to `cost_nano`, as long
    as that is at least `minimum_nano`. Raises InsufficientCredits."""
    row = conn.execute("SELECT credits_nano FROM api_keys WHERE id = ?", (key_id,)).fetchone()
    if row is None or row["credits_nano"] is None:
        return None
    now = time.time()
    held = conn.execute("SELECT COALESCE(SUM(amount_nano), 0) FROM credit_holds WHERE key_id = ? AND created_at > ?"
                        " AND request_id != ?", (key_id, now - HOLD_TTL_S, request_id)).fetchone()[0]
    balance = int(row["credits_nano"])
    available = balance - int(held)
    amount = cost_nano if minimum_nano is None else min(cost_nano, available)
    if available < (cost_nano if minimum_nano is None else minimum_nano):
        raise InsufficientCredits(balance, int(held), cost_nano if minimum_nano is None else minimum_nano)
    conn.execute("INSERT OR REPLACE INTO credit_holds (request_id, key_id, amount_nano, created_at)"
                 " VALUES (?, ?, ?, ?)",
                 (request_id, key_id, amount, now))
    return amount


def release_hold(conn: SqlConnection, request_id: str) -> None:
    conn.execute("DELETE FROM credit_holds WHERE request_id = ?", (request_id,))


def charge(conn: SqlConnection, c: Charge) -> None:
    """Write the ledger row and debit a balance-holding key, in the caller's transaction."""
    now = time.time()
    conn.execute(
        "INSERT INTO ledger (key_id, request_id, model, unit, units, credits_nano, day, created_at, idempotency_key)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (c.key_id, c.request_id, c.model, c.unit, c.units, c.credits_nano, utc_day(now), now, c.idempotency_key),
    )
    if c.credits_nano:
        conn.execute("UPDATE api_keys SET credits_nano = credits_nano - ? WHERE id = ? AND credits_nano IS NOT NULL",
                     (c.credits_nano, c.key_id))


def balance(conn: SqlConnection, key_id: str) -> tuple[int | None, int]:
    row = conn.execute("SELECT credits_nano FROM api_keys WHERE id = ?", (key_id,)).fetchone()
    spent = conn.execute("SELECT COALESCE(SUM(credits_nano), 0) FROM ledger WHERE key_id = ?", (key_id,)).fetchone()[0]
    return (None if row is None or row["credits_nano"] is None else int(row["credits_nano"])), int(spent)


def usage(conn: SqlConnection, key_id: str, start_day: str, end_day: str) -> list[UsageRow]:
    rows = conn.execute(
        "SELECT day, model, unit, COUNT(*) AS requests, SUM(units) AS units, SUM(credits_nano) AS credits"
        " FROM ledger WHERE key_id = ? AND day >= ? AND day <= ? GROUP BY day, model, unit ORDER BY day, model",
        (key_id, start_day, end_day),
    ).fetchall()
    return [UsageRow(r["day"], r["model"], r["unit"], int(r["requests"]), int(r["units"]), int(r["credits"]))
            for r in rows]


def totals(conn: SqlConnection) -> list[UsageRow]:
    """Every key's metered use since the database began, by model (day is "" in these rows)."""
    rows = conn.execute(
        "SELECT model, unit, COUNT(*) AS requests, SUM(units) AS units, SUM(credits_nano) AS credits"
        " FROM ledger GROUP BY model, unit ORDER BY model",
    ).fetchall()
    return [UsageRow("", r["model"], r["unit"], int(r["requests"]), int(r["units"]), int(r["credits"]))
            for r in rows]
