"""Async jobs and their webhook deliveries, as `client.jobs` and `client.webhooks` return them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from voxgate.sdk.types._base import BaseType, UsageDuration, list_of, usage_of


@dataclass
class JobError(BaseType):
    message: str
    type: str | None = None
    code: str | None = None


JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


@dataclass
class Job(BaseType):
    """An async transcription job (`object: "transcription.job"`)."""

    id: str
    status: JobStatus
    created_at: int
    object: Literal["transcription.job"] = "transcription.job"
    model: str | None = None
    task: str = "transcribe"
    progress: float = 0.0
    response_format: str = "json"
    started_at: int | None = None
    completed_at: int | None = None
    webhook_url: str | None = None
    usage: UsageDuration | None = None
    error: JobError | None = None
    result_url: str | None = None
    attempts: int = 0

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        usage = usage_of(data.get("usage"))
        error = data.get("error")
        return {"usage": usage if isinstance(usage, UsageDuration) else None,
                "error": JobError.from_dict(error) if isinstance(error, dict) else None}

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")


@dataclass
class WebhookDeliveryAttempt(BaseType):
    attempt: int
    at: float
    status_code: int | None = None
    error: str | None = None
    duration_ms: float | None = None


@dataclass
class WebhookDelivery(BaseType):
    """One event sent (or being sent) to one URL, with every attempt logged."""

    id: str
    event_id: str
    event_type: str
    url: str
    status: Literal["pending", "succeeded", "failed"]
    created_at: float
    object: Literal["webhook.delivery"] = "webhook.delivery"
    job_id: str | None = None
    attempts: int = 0
    max_attempts: int = 0
    next_attempt_at: float | None = None
    delivered_at: float | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    resend_of: str | None = None
    attempt_log: list[WebhookDeliveryAttempt] = field(default_factory=list)

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"attempt_log": list_of(WebhookDeliveryAttempt, data.get("attempt_log")) or []}


@dataclass
class WebhookSecret(BaseType):
    """This key's signing secret; `workspace_secret` (admin keys only) signs every key's events."""

    secret: str
    object: Literal["webhook.secret"] = "webhook.secret"
    header: str = "voxgate-signature"
    scope: str = "key"
    previous_valid_until: int | None = None
    workspace_secret: str | None = None


@dataclass
class WebhookDefault(BaseType):
    url: str | None
    object: Literal["webhook.default"] = "webhook.default"
