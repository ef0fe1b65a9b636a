"""What the async jobs store: job records and their ends, webhook deliveries, attempts and signing secrets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from voxgate.store.interfaces.gateway import Charge

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL: tuple[str, ...] = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class JobRecord:
    """One async transcription job; a new one (status "queued") is built with the defaults."""

    id: str
    key_id: str
    status: str
    task: str
    model: str
    response_format: str
    words: bool
    request: str  # the validated TranscriptionRequest, as JSON (the store does not read it)
    input_path: str
    filename: str | None = None
    input_bytes: int | None = None
    webhook_url: str | None = None
    request_id: str | None = None
    idempotency_key: str | None = None
    progress: float = 0.0
    attempts: int = 0
    owner: str | None = None
    lease_expires_at: float | None = None
    cancel_requested: bool = False
    created_at: float = 0.0
    started_at: float | None = None
    completed_at: float | None = None
    duration: float | None = None
    billed_seconds: int | None = None
    result: str | None = None
    error: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def public(self) -> dict[str, Any]:
        """The `transcription.job` object clients see."""
        body: dict[str, Any] = {
            "id": self.id,
            "object": "transcription.job",
            "status": self.status,
            "model": self.model,
            "task": self.task,
            "response_format": self.response_format,
            "progress": round(self.progress, 4),
            "created_at": int(self.created_at),
            "started_at": int(self.started_at) if self.started_at else None,
            "completed_at": int(self.completed_at) if self.completed_at else None,
            "attempts": self.attempts,
            "cancel_requested": self.cancel_requested,
            "webhook_url": self.webhook_url,
            "filename": self.filename,
            "bytes": self.input_bytes,
            "duration": self.duration,
            "usage": {"type": "duration", "seconds": self.billed_seconds} if self.billed_seconds is not None else None,
            "error": self.error,
            "result_url": f"/v1/jobs/{self.id}/result" if self.status == "succeeded" else None,
        }
        return body


@dataclass(frozen=True)
class OutboundEvent:
    """A webhook event to deliver: written to the outbox in the same transaction as what caused it."""

    key_id: str
    url: str
    event: dict[str, Any]
    job_id: str | None
    max_attempts: int


@dataclass(frozen=True)
class JobEnd:
    """What a job's end writes with it, atomically: its ledger row and its webhook. The job's credit
    hold (held under the job id) is always dropped."""

    charge: Charge | None = None
    webhook: OutboundEvent | None = None


FollowUp = Callable[[JobRecord], JobEnd]
"""Given the job as it ends (updated record), what to write with it; must not touch the store."""


@dataclass(frozen=True)
class DeliveryAttempt:
    attempt: int
    at: float
    status_code: int | None
    error: str | None
    duration_ms: float | None


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery (an event to a URL) and the log of its attempts."""

    id: str
    key_id: str
    event_id: str
    event_type: str
    job_id: str | None
    url: str
    payload: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    max_attempts: int
    next_attempt_at: float | None
    last_status_code: int | None
    last_error: str | None
    created_at: float
    delivered_at: float | None
    resend_of: str | None
    attempt_log: tuple[DeliveryAttempt, ...] = field(default=())

    def public(self) -> dict[str, Any]:
        """The `webhook.delivery` object clients see."""
        return {
            "id": self.id, "object": "webhook.delivery", "event_id": self.event_id, "event_type": self.event_type,
            "job_id": self.job_id, "url": self.url, "status": self.status, "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "next_attempt_at": self.next_attempt_at if self.status == "pending" else None,
            "delivered_at": self.delivered_at, "last_status_code": self.last_status_code,
            "last_error": self.last_error, "created_at": self.created_at, "resend_of": self.resend_of,
            "attempt_log": [{"attempt": a.attempt, "at": a.at, "status_code": a.status_code, "error": a.error,
                             "duration_ms": a.duration_ms} for a in self.attempt_log],
        }


class JobStore(Protocol):
    """The durable job queue. Every change after a claim is conditional on the owner, so a worker that lost
    its lease can never complete, fail or charge a job. Calls block: run them off the event loop."""

    def get(self, job_id: str, key_id: str | None = None) -> JobRecord | None:
        """A job, only if it belongs to `key_id` (when given)."""

    def list_for_key(self, key_id: str, *, limit: int = 20, status: str | None = None,
                     before: float | None = None) -> list[JobRecord]: ...

    def create(self, job: JobRecord, max_queued: int | None = None, max_queued_bytes: int | None = None) -> JobRecord:
        """Queue a job; QueueFull when its key already has `max_queued` jobs (or `max_queued_bytes` of input)
        queued or running."""

    def purge_finished(self, before: float) -> list[str]:
        """Delete jobs that ended before `before` (and their deliveries); returns their ids."""

    def count_by_status(self) -> dict[str, int]:
        """How many jobs are in each status, over every key."""

    def claim(self, owner: str, lease_s: float) -> JobRecord | None:
        """Take the oldest queued job, atomically across threads and processes."""

    def heartbeat(self, job_id: str, owner: str, lease_s: float, progress: float | None = None) -> bool | None:
        """Renew the lease (and save progress). False: the job is no longer ours; None: cancel requested."""

    def succeed(self, job_id: str, owner: str, result: str, duration: float, billed_seconds: int,
                follow: FollowUp | None = None) -> JobRecord | None:
        """Store the result and what `follow` returns in one transaction, only if `owner` still holds it."""

    def finish(self, job_id: str, owner: str, status: str, error: dict[str, Any] | None,
               follow: FollowUp | None = None) -> JobRecord | None:
        """Mark the owner's running job failed or cancelled, with `follow`'s writes."""

    def close_out(self, job_id: str, end: JobEnd) -> None:
        """Write a finished job's follow-up on its own (a job failed by recovery)."""

    def release(self, job_id: str, owner: str) -> bool:
        """Give a running job back to the queue (this server is shutting down)."""

    def cancel(self, job_id: str, key_id: str) -> JobRecord | None: ...

    def recover(self, me: str, max_attempts: int) -> list[tuple[JobRecord, str]]:
        """Requeue (or fail, after `max_attempts`) running jobs of dead owners or expired leases."""


class QueueFull(Exception):
    """A key already has as many jobs (or bytes of job input) waiting as it may."""


class ResendRefused(Exception):
    """A resend over the limits (resends of one delivery, deliveries queued for one key)."""


@dataclass(frozen=True)
class SigningSecret:
    """An API key's webhook signing secret, and the one it replaced (still signing for a grace period)."""

    secret: str
    previous: str | None = None
    rotated_at: float | None = None


class DeliveryStore(Protocol):
    """The webhook outbox, its attempt log and each key's signing secret."""

    def claim_due(self, hold_s: float, busy_keys: frozenset[str] = frozenset()) -> Delivery | None:
        """Take one due delivery of a key not in `busy_keys` for one attempt, for `hold_s` seconds."""

    def next_due_in(self, busy_keys: frozenset[str] = frozenset()) -> float | None: ...

    def count_by_status(self) -> dict[str, int]:
        """How many webhook deliveries are in each status (pending, delivered, failed...), over every key."""

    def record(self, delivery: Delivery, status_code: int | None, error: str | None, duration_ms: float,
               status: str, next_attempt_at: float | None) -> None:
        """Log one attempt and the delivery's new state."""

    def get(self, delivery_id: str, key_id: str) -> Delivery | None: ...

    def list(self, key_id: str, *, job_id: str | None = None, status: str | None = None,
             limit: int = 20) -> list[Delivery]: ...

    def resend(self, delivery_id: str, key_id: str, max_resends: int, max_pending: int) -> Delivery | None:
        """A new delivery of the same event (same event id and body) to the same URL; ResendRefused over
        the limits."""

    def signing_secret(self, key_id: str) -> SigningSecret:
        """The key's secret, created on first use."""

    def rotate_secret(self, key_id: str) -> SigningSecret: ...

    def default_url(self, key_id: str) -> str | None: ...

    def set_default_url(self, key_id: str, url: str | None) -> None: ...
