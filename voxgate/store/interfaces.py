"""The storage contracts the gateway and the jobs depend on, so a shared store (PostgreSQL, Redis) can
replace the embedded SQLite one when several replicas serve one deployment. Plain data records live here too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from voxgate.store.keys import ApiKey

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL: tuple[str, ...] = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class StoredResponse:
    """A settled response, kept byte for byte for Idempotency-Key replays."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    model: str | None = None


@dataclass(frozen=True)
class IdempotencyRecord:
    """What the store holds for one (API key, Idempotency-Key)."""

    fingerprint: str
    state: Literal["running", "done"]
    owner: str
    request_id: str
    heartbeat_at: float
    response: StoredResponse | None = None


@dataclass(frozen=True)
class Claim:
    """Proof that this request owns an Idempotency-Key and must run it."""

    key_id: str
    idem_key: str
    owner: str


@dataclass(frozen=True)
class Charge:
    """One ledger row: who ran what, how much of it, and what it cost."""

    key_id: str
    request_id: str
    model: str
    unit: str
    units: int
    credits_nano: int
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Settlement:
    """Everything that happens when a request ends, committed in one transaction: store the response
    (or release the claim when `response` is None), write the ledger row, drop the credit hold."""

    request_id: str
    claim: Claim | None = None
    response: StoredResponse | None = None
    charge: Charge | None = None
    hold: bool = False
    ttl_s: float = 86400.0
    more_charges: tuple[Charge, ...] = ()  # a multi-model call's other ledger rows (a pipeline's stages)


@dataclass(frozen=True)
class UsageRow:
    day: str
    model: str
    unit: str
    requests: int
    units: int
    credits_nano: int


class InsufficientCredits(Exception):
    """The key's balance, less what requests in flight hold, cannot pay for this request."""

    def __init__(self, balance_nano: int, held_nano: int, cost_nano: int) -> None:
        super().__init__("insufficient credits")
        self.balance_nano = balance_nano
        self.held_nano = held_nano
        self.cost_nano = cost_nano


class KeyRepository(Protocol):
    def create(self, name: str, *, admin: bool = False, pipeline: str | None = None, credits: float | None = None,
               rpm: int | None = None, concurrency: int | None = None) -> tuple[ApiKey, str]: ...

    def authenticate(self, plain: str) -> ApiKey | None: ...

    def get(self, key_id: str) -> ApiKey | None: ...

    def list(self) -> list[ApiKey]: ...

    def revoke(self, key_id: str) -> bool: ...

    def update(self, key_id: str, *, name: Any = ..., admin: Any = ..., pipeline: Any = ..., credits: Any = ...,
               add_credits: float | None = None, rpm: Any = ..., concurrency: Any = ...) -> ApiKey | None:
        """Change a live key; a field left out is unchanged, None clears it; `add_credits` tops up."""


class GatewayStore(Protocol):
    """Idempotency records, credit holds and the ledger. Calls may block: run them off the event loop
    (except `peek`, which must be a cheap read)."""

    def claim(self, key_id: str, idem_key: str, fingerprint: str, request_id: str, ttl_s: float,
              stale_s: float) -> Claim | IdempotencyRecord:
        """Take the key (absent, expired, or abandoned by a dead owner) or return what holds it."""

    def peek(self, key_id: str, idem_key: str) -> IdempotencyRecord | None: ...

    def heartbeat(self, claim: Claim) -> None:
        """Show that the owner is still running, so waiters do not take the key over."""

    def reserve(self, key_id: str, request_id: str, cost_nano: int, minimum_nano: int | None = None) -> int | None:
        """Hold `cost_nano` of the key's balance (replacing this request's earlier hold) and return the amount held;
        None when the key has no balance (unlimited). With `minimum_nano`: hold what is available up to
        `cost_nano` if that is at least `minimum_nano`. Raises InsufficientCredits."""

    def release_hold(self, request_id: str) -> None: ...

    def settle(self, settlement: Settlement) -> None: ...

    def balance(self, key_id: str) -> tuple[int | None, int]:
        """(balance in nano-credits or None when unlimited, nano-credits spent in total)."""

    def usage(self, key_id: str, start_day: str, end_day: str) -> list[UsageRow]: ...

    def totals(self) -> list[UsageRow]:
        """Every key's metered use since the store began, by model and unit (`day` is empty)."""
        ...

    def purge_expired(self) -> int: ...


class RateLimiter(Protocol):
    """Per-key request rate and concurrency; the embedded one counts in process memory."""

    def admit(self, key_id: str, rpm: int | None, concurrency: int | None) -> Any: ...

    def peek(self, key_id: str, rpm: int | None, concurrency: int | None) -> Any: ...

    def release(self, key_id: str) -> None: ...


# ---- async jobs and webhook deliveries ---------------------------------------------------------------


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


# ---- custom voices -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomVoice:
    """A voice a key made from a reference clip: a blend of a speech model's bundled voices, matched to it."""

    id: str
    key_id: str
    name: str
    consent: str
    model: str
    voice: str  # the blend expression the speech engine takes
    language: str | None
    gender: str | None
    similarity: float  # speaker-embedding cosine between the reference and the matched voice
    sample_sha256: str
    created_at: float

    def public(self) -> dict[str, Any]:
        """The `audio.voice` object clients see (OpenAI's fields, then what voxgate adds)."""
        return {"id": self.id, "object": "audio.voice", "name": self.name, "created_at": int(self.created_at),
                "type": "audio_sample", "model": self.model, "language": self.language, "gender": self.gender,
                "matched_voice": self.voice, "similarity": round(self.similarity, 4)}


@dataclass(frozen=True)
class VoiceMatchRecord:
    """A reference clip's match, kept by the clip's hash so the same clip is never matched twice."""

    sample_sha256: str
    model: str
    voice: str
    similarity: float
    details: str  # JSON: the default's and the best single voice's similarity, the candidates tried


class VoiceLimitReached(Exception):
    """A key already has as many custom voices as it may."""


class VoiceStore(Protocol):
    """Custom voices per API key, and the match cache. Calls block: run them off the event loop."""

    def create(self, voice: CustomVoice, max_per_key: int) -> CustomVoice:
        """Store a new voice; VoiceLimitReached when its key already has `max_per_key`."""

    def get(self, voice_id: str) -> CustomVoice | None: ...

    def list(self, key_id: str | None) -> list[CustomVoice]:
        """A key's voices, oldest first (every key's when `key_id` is None)."""

    def delete(self, voice_id: str) -> bool: ...

    def cached_match(self, sample_sha256: str, model: str) -> VoiceMatchRecord | None: ...

    def remember_match(self, record: VoiceMatchRecord) -> None: ...


@dataclass(frozen=True)
class Pipeline:
    """A stored voice pipeline: the three models of a spoken turn (STT -> LLM -> TTS) and how to answer."""

    id: str
    stt_model: str
    llm_model: str
    tts_model: str
    voice: str
    system_prompt: str
    language: str | None
    max_reply_tokens: int
    created_at: float
    updated_at: float
    temperature: float = 0.7  # the LLM's sampling temperature (0: the same question, the same answer)

    def models(self) -> tuple[str, str, str]:
        return (self.stt_model, self.llm_model, self.tts_model)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "object": "pipeline", "stt_model": self.stt_model, "llm_model": self.llm_model,
                "tts_model": self.tts_model, "voice": self.voice, "system_prompt": self.system_prompt,
                "language": self.language, "max_reply_tokens": self.max_reply_tokens,
                "temperature": self.temperature, "created_at": int(self.created_at), "updated_at": int(self.updated_at)}


class PipelineExists(Exception):
    """A pipeline with this id is already stored."""


class PipelineStore(Protocol):
    """Pipelines (shared by every key) and the conversation history of each key. Calls block."""

    def create(self, pipeline: Pipeline) -> None: ...  # raises PipelineExists

    def get(self, pipeline_id: str) -> Pipeline | None: ...

    def list_all(self) -> list[Pipeline]: ...

    def update(self, pipeline: Pipeline) -> None: ...

    def delete(self, pipeline_id: str) -> bool: ...

    def history(self, key_id: str, conversation_id: str) -> list[dict[str, str]]: ...

    def save_history(self, key_id: str, conversation_id: str, pipeline_id: str,
                     messages: list[dict[str, str]]) -> None: ...


@dataclass(frozen=True)
class StoredConversation:
    """A Responses API response kept so `previous_response_id` can continue from it: the messages so far."""

    id: str
    key_id: str
    messages: list[dict[str, str]]
    created_at: float


class ResponseStore(Protocol):
    """Responses of each key, by id, for `previous_response_id`. Calls block."""

    def save(self, record: StoredConversation) -> None: ...

    def get(self, key_id: str, response_id: str) -> StoredConversation | None: ...

    def purge(self, older_than: float) -> int: ...
