"""One HTTP request as the gateway sees it: who called, what the handler metered, how the response ended,
and the fields of its access-log line.

`RequestIdMiddleware` creates the `Call` (the only writer of `scope["state"]`); the gateway middleware,
the policy and the routers reach it with `call_of(request)`, so this state is typed and read one way."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import Scope

from voxgate.gateway.auth import Principal
from voxgate.gateway.ratelimit import RateDecision
from voxgate.store.keys import from_nano

STATE_KEY = "voxgate_call"
_ALWAYS = ("request_id", "client_request_id", "method", "route", "status", "ms", "key_id", "model", "units")


@dataclass
class AccessLog:
    """One JSON access-log line per request: never the key itself, only its id."""

    request_id: str
    client_request_id: str | None = None
    method: str | None = None
    route: str | None = None
    status: int = 0
    ms: float = 0.0
    key_id: str | None = None
    model: str | None = None
    units: int | None = None
    unit: str | None = None
    credits: float | None = None
    replayed: bool | None = None
    original_request_id: str | None = None
    job_id: str | None = None

    def line(self) -> str:
        """`{"event": "access", ...}`: the fields every line has, then those this request set."""
        fields = {k: v for k, v in asdict(self).items() if k in _ALWAYS or v is not None}
        return json.dumps({"event": "access", **fields})


@dataclass(frozen=True)
class Stage:
    """One model's share of a multi-model call (a voice pipeline's STT, LLM and TTS): its own ledger row."""

    model: str
    unit: str
    units: int
    credits_nano: int


@dataclass
class Meter:
    """What a billable request consumed: filled by `Gateway.reserve_credits` before inference runs."""

    model: str | None = None
    unit: str | None = None
    units: int = 0
    credits_nano: int = 0
    held: bool = False  # a credit hold was placed and must be dropped at the end
    stages: list[Stage] = field(default_factory=list)  # set: one ledger row per stage instead of one in all

    @property
    def billable(self) -> bool:
        return self.model is not None and self.unit is not None

    @property
    def credits(self) -> float:
        return from_nano(self.credits_nano)


@dataclass
class Call:
    """Per-request gateway state; settled by the gateway middleware when the response is over (ledger
    row, stored idempotent response, released slots)."""

    access: AccessLog
    principal: Principal | None = None
    admitted: bool = False
    slot_pending: bool = False  # an upload route's concurrency slot, taken once its body has arrived
    meter: Meter = field(default_factory=Meter)
    rate: RateDecision | None = None
    releases: list[Callable[[], None]] = field(default_factory=list)
    idempotency_key: str | None = None
    status: int = 0
    completed: bool = False  # the last body message was sent
    failed: bool = False  # the handler reported a failure inside a 200 stream: neither store nor charge
    no_store: bool = False  # the response holds a secret (a new API key): never keep it

    @property
    def request_id(self) -> str:
        return self.access.request_id

    def identify(self, principal: Principal) -> None:
        self.principal = principal
        self.access.key_id = principal.key_id

    def release_all(self) -> None:
        while self.releases:
            self.releases.pop()()


def attach(scope: Scope, call: Call) -> None:
    scope.setdefault("state", {})[STATE_KEY] = call


def call_of(where: HTTPConnection | Scope) -> Call:
    """The call of a request (a Request, a WebSocket or an ASGI scope)."""
    scope: Any = where.scope if isinstance(where, HTTPConnection) else where
    call = scope.get("state", {}).get(STATE_KEY)
    if not isinstance(call, Call):
        raise RuntimeError("no gateway call on this request: is RequestIdMiddleware installed?")
    return call
