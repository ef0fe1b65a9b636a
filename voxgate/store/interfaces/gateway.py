"""What the gateway stores: keys, idempotent responses, the credit ledger and its settlements, rate limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

from voxgate.store.keys import ApiKey


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
