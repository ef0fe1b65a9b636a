"""The gateway's policy for long-lived connections (realtime WebSockets): a session is one request to the rate
limiter (a token and a concurrency slot for as long as it is open), counts against its key's session cap, and
is metered by the audio seconds it receives, charged as it goes rather than once at the end.

A key with a balance has credits held a block of audio ahead (`block_s`); when the next block cannot be held the
audio is refused (402) and what was received is still charged."""

from __future__ import annotations

import math
import threading

import anyio

from voxgate.errors import APIError
from voxgate.gateway.auth import Principal
from voxgate.gateway.policy import Gateway
from voxgate.gateway.pricing import UNITS, cost_nano, price_nano
from voxgate.models.catalog import ModelSpec
from voxgate.store.interfaces import Charge, InsufficientCredits, Settlement
from voxgate.store.keys import from_nano


class SessionCap:
    """Open sessions per key, in this process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str) -> bool:
        with self._lock:
            if self._open.get(key_id, 0) >= self.limit:
                return False
            self._open[key_id] = self._open.get(key_id, 0) + 1
            return True

    def give_back(self, key_id: str) -> None:
        with self._lock:
            left = self._open.get(key_id, 0) - 1
            if left > 0:
                self._open[key_id] = left
            else:
                self._open.pop(key_id, None)


class SessionGate:
    """Admission of one session; `close` gives back everything it took."""

    def __init__(self, gateway: Gateway, cap: SessionCap, principal: Principal) -> None:
        self.gateway = gateway
        self.cap = cap
        self.principal = principal
        self._slot = False
        self._capped = False

    def open(self) -> None:
        """Take a session (429 when the key has its most open, or is over its rate limit)."""
        p = self.principal
        if not self.cap.take(p.key_id):
            raise APIError(429, f"this API key already has {self.cap.limit} realtime sessions open",
                           code="too_many_sessions")
        self._capped = True
        if not self.gateway.enabled or (p.rpm is None and p.concurrency is None):
            return
        decision = self.gateway.limiter.admit(p.key_id, p.rpm, p.concurrency)
        if not decision.allowed:
            self.close()
            raise self.gateway.rate_limited(p, decision)
        self._slot = p.concurrency is not None

    def close(self) -> None:
        if self._slot:
            self._slot = False
            self.gateway.limiter.release(self.principal.key_id)
        if self._capped:
            self._capped = False
            self.cap.give_back(self.principal.key_id)


class SessionMeter:
    """Audio seconds received by one session, held ahead and charged in whole seconds."""

    def __init__(self, gateway: Gateway, principal: Principal, request_id: str, block_s: float) -> None:
        self.gateway = gateway
        self.principal = principal
        self.request_id = request_id
        self.block_s = block_s
        self.received = 0.0
        self.charged = 0  # whole seconds already on the ledger
        self.held_to = 0.0  # received seconds the current hold covers
        self.held = False

    async def take(self, spec: ModelSpec, seconds: float) -> None:
        """Before audio is used: hold credits for it (402 when the key cannot cover it)."""
        need = self.received + seconds
        if self.gateway.enabled and self.principal.credit_limited and price_nano(spec) > 0 and need > self.held_to:
            most = cost_nano(spec, math.ceil(need + self.block_s) - self.charged)
            least = cost_nano(spec, math.ceil(need) - self.charged)
            try:
                held = await anyio.to_thread.run_sync(self.gateway.store.reserve, self.principal.key_id,
                                                      self.request_id, most, least)
            except InsufficientCredits as exc:
                available = from_nano(exc.balance_nano - exc.held_nano)
                raise APIError(402, f"insufficient credits: the key has {available} credits available, short of "
                                    f"this audio at {spec.price_per_unit} credits a second",
                               code="insufficient_credits") from None
            if held is not None:
                self.held = True
                self.held_to = self.charged + held / price_nano(spec)
        self.received = need

    async def charge(self, spec: ModelSpec, *, last: bool = False) -> None:
        """Write a ledger row for the whole seconds received since the last one (`last`: round the rest up and
        drop the hold)."""
        if not self.gateway.enabled:
            return
        due = self.received - self.charged
        units = math.ceil(due - 1e-6) if last else math.floor(due)
        units = max(units, 0)
        drop = self.held and (last or units > 0)
        if units <= 0 and not drop:
            return
        charge = Charge(key_id=self.principal.key_id, request_id=self.request_id, model=spec.id,
                        unit=UNITS["transcription"], units=units, credits_nano=cost_nano(spec, units)) \
            if units > 0 else None
        await anyio.to_thread.run_sync(self.gateway.store.settle,
                                       Settlement(request_id=self.request_id, charge=charge, hold=drop))
        self.charged += units
        if self.gateway.metrics is not None:
            self.gateway.metrics.used(spec.id, UNITS["transcription"], units)
        if drop:  # the next audio is held afresh, against the balance this charge lowered
            self.held, self.held_to = False, float(self.charged)

    async def charge_units(self, spec: ModelSpec, units: int) -> None:
        """A ledger row for another model the session ran (a conversation's LLM tokens and TTS characters)."""
        if not self.gateway.enabled or units <= 0:
            return
        charge = Charge(key_id=self.principal.key_id, request_id=self.request_id, model=spec.id,
                        unit=UNITS.get(spec.task, "units"), units=units, credits_nano=cost_nano(spec, units))
        await anyio.to_thread.run_sync(self.gateway.store.settle, Settlement(request_id=self.request_id,
                                                                             charge=charge))
        if self.gateway.metrics is not None:
            self.gateway.metrics.used(spec.id, charge.unit, units)
