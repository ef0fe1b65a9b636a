"""Async transcription jobs in the SQLite file: the queue, the lease that makes a claim exclusive, and
the stored result.

A job is claimed by one owner (`host:pid:token`) for a lease it keeps renewing. A server that dies
mid-job stops renewing; on start-up (and periodically) its running jobs go back to the queue, either at
once (same host, its pid is gone) or when the lease runs out. Every state change after the claim is
conditional on `owner`, so a worker that lost its lease can never complete, fail or charge a job."""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from typing import Any

from voxgate.store import ledger
from voxgate.store.db import SqlConnection, SqlDatabase, SqlRow
from voxgate.store.deliveries import SCHEMA as DELIVERY_SCHEMA
from voxgate.store.deliveries import insert_delivery
from voxgate.store.interfaces import FollowUp, JobEnd, JobRecord, QueueFull

SCHEMA: list[str] = [
    """CREATE TABLE IF NOT EXISTS transcription_jobs (
        id TEXT PRIMARY KEY,
        key_id TEXT NOT NULL,
        status TEXT NOT NULL,
        task TEXT NOT NULL,
        model TEXT NOT NULL,
        response_format TEXT NOT NULL,
        words INTEGER NOT NULL DEFAULT 0,
        request TEXT NOT NULL,
        input_path TEXT NOT NULL,
        filename TEXT,
        input_bytes INTEGER,
        webhook_url TEXT,
        request_id TEXT,
        idempotency_key TEXT,
        progress REAL NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        lease_expires_at REAL,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        started_at REAL,
        completed_at REAL,
        duration REAL,
        billed_seconds INTEGER,
        result TEXT,
        error TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS transcription_jobs_queue ON transcription_jobs (status, created_at)",
    "CREATE INDEX IF NOT EXISTS transcription_jobs_key ON transcription_jobs (key_id, created_at)",
]


def new_owner() -> str:
    """This process's identity as a job owner; the token tells apart two lives of one pid."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def owner_is_dead(owner: str, me: str) -> bool:
    """True when `owner` is surely gone: a process on this host whose pid no longer exists (or is ours,
    from a previous life). Owners on other hosts are never judged here; their lease decides."""
    host, _, rest = owner.partition(":")
    pid_text, _, token = rest.partition(":")
    my_host, _, my_rest = me.partition(":")
    if host != my_host or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if owner == me:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False


def new_job_id() -> str:
    return "job_" + secrets.token_hex(12)


def _record(row: SqlRow) -> JobRecord:
    data = dict(row)
    data["words"] = bool(data["words"])
    data["cancel_requested"] = bool(data["cancel_requested"])
    data["error"] = json.loads(data["error"]) if data["error"] else None
    return JobRecord(**data)


class SqliteJobStore:
    """The embedded `voxgate.store.interfaces.JobStore`."""

    def __init__(self, db: SqlDatabase) -> None:
        self.db = db
        db.add_schema(SCHEMA)  # an old table's `fields` column was renamed by migration 2 (store/db.py)
        db.add_schema(DELIVERY_SCHEMA)  # a job's end writes its webhook delivery; purging deletes it

    # ---- reads ----

    def get(self, job_id: str, key_id: str | None = None) -> JobRecord | None:
        """A job, only if it belongs to `key_id` (when given): other keys' jobs do not exist for them."""
        sql, args = "SELECT * FROM transcription_jobs WHERE id = ?", [job_id]
        if key_id is not None:
            sql += " AND key_id = ?"
            args.append(key_id)
        row = self.db.conn().execute(sql, args).fetchone()
        return None if row is None else _record(row)

    def count_by_status(self) -> dict[str, int]:
        rows = self.db.conn().execute("SELECT status, COUNT(*) AS n FROM transcription_jobs GROUP BY status")
        return {row["status"]: int(row["n"]) for row in rows}

    def list_for_key(self, key_id: str, *, limit: int = 20, status: str | None = None,
             before: float | None = None) -> list[JobRecord]:
        sql = "SELECT * FROM transcription_jobs WHERE key_id = ?"
        args: list[Any] = [key_id]
        if status:
            sql += " AND status = ?"
            args.append(status)
        if before is not None:
            sql += " AND created_at < ?"
            args.append(before)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        args.append(limit)
        return [_record(r) for r in self.db.conn().execute(sql, args).fetchall()]

    # ---- writes ----

    def create(self, job: JobRecord, max_queued: int | None = None, max_queued_bytes: int | None = None) -> JobRecord:
        with self.db.transaction() as conn:
            count, size = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(input_bytes), 0) FROM transcription_jobs"
                " WHERE key_id = ? AND status IN ('queued', 'running')", (job.key_id,)).fetchone()
            if max_queued is not None and count >= max_queued:
                raise QueueFull(f"this API key already has {count} jobs queued or running; the limit is {max_queued}")
            if max_queued_bytes is not None and size + (job.input_bytes or 0) > max_queued_bytes:
                raise QueueFull(f"this API key's queued jobs already hold {size} bytes of audio; the limit is "
                                f"{max_queued_bytes}")
            conn.execute(
                "INSERT INTO transcription_jobs (id, key_id, status, task, model, response_format, words, request,"
                " input_path, filename, input_bytes, webhook_url, request_id, idempotency_key, created_at)"
                " VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job.id, job.key_id, job.task, job.model, job.response_format, int(job.words), job.request,
                 job.input_path, job.filename, job.input_bytes, job.webhook_url, job.request_id,
                 job.idempotency_key, time.time()),
            )
        record = self.get(job.id)
        assert record is not None
        return record

    def purge_finished(self, before: float) -> list[str]:
        with self.db.transaction() as conn:
            ids = [r[0] for r in conn.execute(
                "SELECT id FROM transcription_jobs WHERE status IN ('succeeded', 'failed', 'cancelled')"
                " AND COALESCE(completed_at, created_at) < ?", (before,))]
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                conn.execute(f"DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries"
                             f" WHERE job_id IN ({marks}) AND status != 'pending')", chunk)
                conn.execute(f"DELETE FROM webhook_deliveries WHERE job_id IN ({marks}) AND status != 'pending'", chunk)
                conn.execute(f"DELETE FROM transcription_jobs WHERE id IN ({marks})", chunk)
        return ids

    def claim(self, owner: str, lease_s: float) -> JobRecord | None:
        """Take the oldest queued job, atomically across threads and processes."""
        now = time.time()
        with self.db.transaction() as conn:
            rows = conn.execute(
                "UPDATE transcription_jobs SET status = 'running', owner = ?, lease_expires_at = ?,"
                " attempts = attempts + 1, started_at = COALESCE(started_at, ?)"
                " WHERE id = (SELECT id FROM transcription_jobs WHERE status = 'queued'"
                "             ORDER BY created_at, id LIMIT 1) AND status = 'queued' RETURNING *",
                (owner, now + lease_s, now),
            ).fetchall()
        return _record(rows[0]) if rows else None

    def heartbeat(self, job_id: str, owner: str, lease_s: float, progress: float | None = None) -> bool | None:
        """Renew the lease (and save progress). False: the job is no longer ours; None: cancel requested."""
        with self.db.transaction() as conn:
            sets, args = "lease_expires_at = ?", [time.time() + lease_s]
            if progress is not None:
                sets += ", progress = MAX(progress, ?)"
                args.append(progress)
            rows = conn.execute(
                f"UPDATE transcription_jobs SET {sets} WHERE id = ? AND owner = ? AND status = 'running'"
                " RETURNING cancel_requested", (*args, job_id, owner)).fetchall()
        if not rows:
            return False
        return None if rows[0]["cancel_requested"] else True

    def succeed(self, job_id: str, owner: str, result: str, duration: float, billed_seconds: int,
                follow: FollowUp | None = None) -> JobRecord | None:
        """Store the result and `follow`'s ledger row and webhook in one transaction, only if we still own it."""
        return self._end(
            "UPDATE transcription_jobs SET status = 'succeeded', progress = 1, result = ?, duration = ?,"
            " billed_seconds = ?, completed_at = ?, owner = NULL, lease_expires_at = NULL"
            " WHERE id = ? AND owner = ? AND status = 'running' RETURNING *",
            (result, duration, billed_seconds, time.time(), job_id, owner), follow)

    def finish(self, job_id: str, owner: str, status: str, error: dict[str, Any] | None,
               follow: FollowUp | None = None) -> JobRecord | None:
        """Mark our running job failed or cancelled, with `follow`'s writes in the same transaction."""
        return self._end(
            "UPDATE transcription_jobs SET status = ?, error = ?, completed_at = ?, owner = NULL,"
            " lease_expires_at = NULL WHERE id = ? AND owner = ? AND status = 'running' RETURNING *",
            (status, json.dumps(error) if error else None, time.time(), job_id, owner), follow)

    def _end(self, update: str, args: tuple[Any, ...], follow: FollowUp | None) -> JobRecord | None:
        """Run a job's final UPDATE (conditional on its owner) and, if it matched, its follow-up writes."""
        with self.db.transaction() as conn:
            rows = conn.execute(update, args).fetchall()
            if not rows:
                return None
            record = _record(rows[0])
            if follow is not None:
                _write_end(conn, record.id, follow(record))
        return record

    def close_out(self, job_id: str, end: JobEnd) -> None:
        with self.db.transaction() as conn:
            _write_end(conn, job_id, end)

    def release(self, job_id: str, owner: str) -> bool:
        """Give a running job back to the queue (this server is shutting down)."""
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE transcription_jobs SET status = 'queued', owner = NULL, lease_expires_at = NULL,"
                " attempts = MAX(attempts - 1, 0) WHERE id = ? AND owner = ? AND status = 'running'",
                (job_id, owner))
        return cur.rowcount > 0

    def cancel(self, job_id: str, key_id: str) -> JobRecord | None:
        """Cancel a queued job at once; ask a running one to stop (its runner finishes the cancel)."""
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE transcription_jobs SET status = 'cancelled', completed_at = ?, cancel_requested = 1"
                " WHERE id = ? AND key_id = ? AND status = 'queued'", (now, job_id, key_id))
            conn.execute(
                "UPDATE transcription_jobs SET cancel_requested = 1 WHERE id = ? AND key_id = ? AND status = 'running'",
                (job_id, key_id))
        return self.get(job_id, key_id)

    def recover(self, me: str, max_attempts: int) -> list[tuple[JobRecord, str]]:
        """Requeue running jobs whose owner is dead or whose lease ran out; a job that has already been
        tried `max_attempts` times is failed instead (it may be what kills the server). Returns
        (job, "requeued" | "failed") for each job touched."""
        now = time.time()
        touched: list[tuple[JobRecord, str]] = []
        rows = self.db.conn().execute(
            "SELECT id, owner, lease_expires_at FROM transcription_jobs WHERE status = 'running'").fetchall()
        for row in rows:
            owner = row["owner"] or ""
            expired = row["lease_expires_at"] is None or row["lease_expires_at"] < now
            if owner == me or not (expired or owner_is_dead(owner, me)):
                continue
            error = json.dumps({"message": f"the job was interrupted {max_attempts} times and will not be retried",
                                "type": "server_error", "code": "job_interrupted"})
            with self.db.transaction() as conn:
                updated = conn.execute(
                    "UPDATE transcription_jobs SET"
                    " status = CASE WHEN attempts >= ? THEN 'failed' ELSE 'queued' END,"
                    " error = CASE WHEN attempts >= ? THEN ? ELSE error END,"
                    " completed_at = CASE WHEN attempts >= ? THEN ? ELSE NULL END,"
                    " owner = NULL, lease_expires_at = NULL"
                    " WHERE id = ? AND owner IS ? AND status = 'running' RETURNING *",
                    (max_attempts, max_attempts, error, max_attempts, now, row["id"], row["owner"]),
                ).fetchall()
            if updated:
                record = _record(updated[0])
                touched.append((record, "failed" if record.status == "failed" else "requeued"))
        return touched


def _write_end(conn: SqlConnection, job_id: str, end: JobEnd) -> None:
    """A job's ledger row, its dropped credit hold and its webhook, inside the job's own transaction."""
    if end.charge is not None:
        ledger.charge(conn, end.charge)
    ledger.release_hold(conn, job_id)
    if end.webhook is not None:
        insert_delivery(conn, end.webhook)
