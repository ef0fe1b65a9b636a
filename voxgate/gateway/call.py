"""Per-request gateway state: who called, what the handler metered, and how the response ended.

The middleware creates one `GatewayCall` per HTTP request (in scope["state"]["gateway"] and a context
variable); handlers fill its meter through `Gateway` methods; the middleware settles it when the
response is over (ledger row, stored idempotent response, released slots)."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable

from voxgate.gateway.auth import Principal
from voxgate.gateway.ratelimit import RateDecision
from voxgate.store.keys import from_nano


@dataclass
class Meter:
    """What a billable request consumed: filled by `Gateway.reserve_credits` before inference runs."""

    model: str | None = None
    unit: str | None = None
    units: int = 0
    credits_nano: int = 0
    held: bool = False  # a credit hold was placed and must be dropped at the end

    @property
    def billable(self) -> bool:
        return self.model is not None and self.unit is not None

    @property
    def credits(self) -> float:
        return from_nano(self.credits_nano)


@dataclass
class GatewayCall:
    request_id: str
    principal: Principal | None = None
    admitted: bool = False
    meter: Meter = field(default_factory=Meter)
    rate: RateDecision | None = None
    releases: list[Callable[[], None]] = field(default_factory=list)
    idempotency_key: str | None = None
    status: int = 0
    completed: bool = False  # the last body message was sent
    failed: bool = False  # the handler reported a failure inside a 200 stream: neither store nor charge
    no_store: bool = False  # the response holds a secret (a new API key): never keep it

    def release_all(self) -> None:
        while self.releases:
            self.releases.pop()()


CURRENT_CALL: ContextVar[GatewayCall | None] = ContextVar("voxgate_gateway_call", default=None)


def call_of(scope_or_state: Any) -> GatewayCall | None:
    """The call of a request (a Request, an ASGI scope) or, failing that, of the current context."""
    scope = getattr(scope_or_state, "scope", scope_or_state)
    found = scope.get("state", {}).get("gateway") if isinstance(scope, dict) else None
    return found if found is not None else CURRENT_CALL.get()
