"""The gateway's policy, in the calls handlers make: admit a key (auth, rate limits), authorize a model
(pipeline scope), reserve credits (meter + balance check before inference), and settle at the end.

Handlers stay thin: `ctx.gateway.authorize_model(principal, name)` before resolving a model and
`await ctx.gateway.reserve_credits(request, spec, units)` right before the engine runs."""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import anyio
from starlette.requests import HTTPConnection

from voxgate.config import GatewaySettings
from voxgate.errors import APIError
from voxgate.gateway.auth import BOOTSTRAP, Principal, authenticate, bearer_token, identify
from voxgate.gateway.call import Call, Meter, Stage, call_of
from voxgate.gateway.pricing import UNITS, cost_nano, decoding_hold, price_nano
from voxgate.gateway.ratelimit import InMemoryRateLimiter, RateDecision
from voxgate.metrics import Metrics
from voxgate.models.catalog import Catalog, ModelSpec
from voxgate.store.interfaces import (
    Charge,
    Claim,
    GatewayStore,
    InsufficientCredits,
    KeyRepository,
    PipelineStore,
    RateLimiter,
    Settlement,
    StoredResponse,
)
from voxgate.store.keys import from_nano

log = logging.getLogger("voxgate.gateway")

HEARTBEAT_S = 5.0  # how often a running idempotent request proves it is alive
STALE_S = 30.0  # a running claim without a heartbeat this long was abandoned by a dead process
PURGE_EVERY_S = 600.0
MAX_STORED_BODY = 64 * 1024 * 1024


class Gateway:
    def __init__(self, settings: GatewaySettings, catalog: Catalog, keys: KeyRepository, store: GatewayStore,
                 max_body: int, limiter: RateLimiter | None = None, pipelines: PipelineStore | None = None) -> None:
        self.settings = settings
        self.catalog = catalog
        self.keys = keys
        self.store = store
        self.limiter: RateLimiter = limiter or InMemoryRateLimiter()
        self.pipelines = pipelines  # a pipeline-scoped key may use its pipeline's models
        self.enabled = settings.enabled
        self.ttl_s = float(settings.idempotency_ttl_s)
        self.wait_s = settings.idempotency_wait_s
        self.stale_s = STALE_S
        self.heartbeat_s = HEARTBEAT_S
        self.max_body = max_body  # an idempotent request's body is read (and fingerprinted) up to this
        self._events: dict[tuple[str, str], asyncio.Event] = {}
        self._last_purge = 0.0
        self.metrics: Metrics | None = None  # set by the composition root

    # -- who is calling -------------------------------------------------------------------------

    def identify_token(self, authorization: str) -> Principal | None:
        """Who the header's key stands for (None: nobody); blocking, it may read the key store."""
        token = bearer_token(authorization)
        if token is None:
            return None
        return identify(token, self.keys, self.settings.bootstrap_key, self.settings.default_rpm,
                        self.settings.default_concurrency, self.pipelines)

    def identify_bootstrap(self, authorization: str) -> Principal | None:
        """The operator's bootstrap key, recognised on the event loop (it needs no store); None for any other
        key, which `identify_token` looks up afresh every time, so a change from any process applies at once."""
        token = bearer_token(authorization)
        bootstrap = self.settings.bootstrap_key
        if token is None or not bootstrap or not hmac.compare_digest(token.encode(), bootstrap.encode()):
            return None
        return BOOTSTRAP

    async def admit(self, request: HTTPConnection, *, slot: bool = True) -> Principal:
        """The `require_key` dependency: authenticate (401), then take a rate token and a slot (429).

        `slot=False` (upload routes) defers the concurrency slot to `occupy`, called once the body has
        arrived: a slow upload must not hold one of its key's slots while it trickles in."""
        call = call_of(request)
        if call.admitted and call.principal is not None:
            return call.principal
        principal = call.principal or authenticate(request, self.keys, self.settings.bootstrap_key,
                                                   self.settings.default_rpm, self.settings.default_concurrency,
                                                   self.pipelines)
        call.identify(principal)
        if not self.enabled:  # policy off: authentication only
            return principal
        call.admitted = True
        if principal.rpm is None and principal.concurrency is None:
            return principal
        decision = self.limiter.admit(principal.key_id, principal.rpm, principal.concurrency if slot else None)
        call.rate = decision
        if not decision.allowed:
            raise self.rate_limited(principal, decision)
        if principal.concurrency is not None:
            if slot:
                call.releases.append(partial(self.limiter.release, principal.key_id))
            else:
                call.slot_pending = True
        return principal

    async def occupy(self, request: HTTPConnection) -> None:
        """Take the concurrency slot `admit(slot=False)` deferred (429 when the key's slots are all busy)."""
        call = call_of(request)
        principal = call.principal
        if not call.slot_pending or principal is None:
            return
        call.slot_pending = False
        decision = self.limiter.admit(principal.key_id, None, principal.concurrency)
        if call.rate is not None:  # keep the request-rate half of the headers
            decision = replace(call.rate, allowed=decision.allowed, concurrency=decision.concurrency,
                               in_flight=decision.in_flight, retry_after_s=decision.retry_after_s,
                               reason=decision.reason)
        call.rate = decision
        if not decision.allowed:
            raise self.rate_limited(principal, decision)
        call.releases.append(partial(self.limiter.release, principal.key_id))

    @staticmethod
    def rate_limited(principal: Principal, decision: RateDecision) -> APIError:
        """The 429 for a refused rate decision (requests and realtime sessions alike)."""
        what = (f"{principal.concurrency} concurrent requests" if decision.reason == "concurrency"
                else f"{principal.rpm} requests per minute")
        return APIError(429, f"rate limit reached for this API key: {what}; retry after "
                             f"{decision.retry_after_s:.2f}s", code="rate_limited", headers=decision.retry_headers())

    def rate_headers(self, call: Call) -> list[tuple[bytes, bytes]]:
        if call.rate is not None:
            return call.rate.headers()
        p = call.principal
        if p is None or (p.rpm is None and p.concurrency is None):
            return []
        return self.limiter.peek(p.key_id, p.rpm, p.concurrency).headers()

    # -- what the handler may do ----------------------------------------------------------------

    def authorize_model(self, principal: Principal, name: str | None, task: str | None = None) -> str | None:
        """The model name to use. A key scoped to one model: that model when the request names none, 403 for
        any other (aliases are fine: catalog ids are compared). A key scoped to a pipeline: the pipeline's
        model for `task` when none is named, 403 for a model the pipeline does not use."""
        if principal.pipeline is None:
            return name
        if principal.pipeline_models:  # read with the key: no store access here, on the event loop
            by_task = dict(principal.pipeline_models)
            if not name:
                return by_task.get(task or "")
            wanted = self.catalog.resolve(name)
            if (wanted.id if wanted else name) in by_task.values():
                return name
            raise APIError(403, f"this API key is scoped to the pipeline {principal.pipeline!r} and its models "
                                f"({', '.join(by_task.values())}); it cannot use {name!r}",
                           code="forbidden", param="model")
        allowed = principal.pipeline
        if not name:
            return allowed
        wanted = self.catalog.resolve(name)
        allowed_spec = self.catalog.resolve(allowed)
        if (wanted.id if wanted else name) != (allowed_spec.id if allowed_spec else allowed):
            raise APIError(403, f"this API key is scoped to the model {allowed!r} and cannot use {name!r}",
                           code="forbidden", param="model")
        return name

    async def reserve_credits(self, request: HTTPConnection, spec: ModelSpec, units: int) -> Meter | None:
        """Meter the request and, for a key with a balance, hold its cost or answer 402: call it after
        the units are known (characters, decoded seconds) and before the engine runs. It replaces a
        hold taken earlier by `hold_before_decoding`."""
        if not self.enabled:
            return None
        unit = UNITS.get(spec.task, "units")
        meter = Meter(model=spec.id, unit=unit, units=int(units), credits_nano=cost_nano(spec, units))
        await self._hold(request, meter, f"{meter.units} {unit} of {spec.id}")
        return meter

    async def reserve_stages(self, request: HTTPConnection, label: str, stages: list[tuple[ModelSpec, int]]) -> None:
        """As `reserve_credits` for a call that runs several models (a voice pipeline): hold the sum of each
        model's most units; `record_stage` then meters what each one used, a ledger row apiece."""
        if not self.enabled:
            return
        total = sum(cost_nano(spec, units) for spec, units in stages)
        meter = Meter(model=label, unit="stages", units=0, credits_nano=total)
        await self._hold(request, meter, " + ".join(f"{units} {UNITS.get(spec.task, 'units')} of {spec.id}"
                                                   for spec, units in stages))
        meter.credits_nano = 0  # charged per stage as each one finishes

    def record_stage(self, request: HTTPConnection, spec: ModelSpec, units: int) -> None:
        if not self.enabled:
            return
        meter = call_of(request).meter
        meter.stages.append(Stage(spec.id, UNITS.get(spec.task, "units"), int(units), cost_nano(spec, units)))
        meter.credits_nano = sum(stage.credits_nano for stage in meter.stages)

    async def _hold(self, request: HTTPConnection, meter: Meter, what: str) -> None:
        call = call_of(request)
        meter.held = call.meter.held
        earlier = meter.held
        call.meter = meter
        call.access.model, call.access.units, call.access.unit = meter.model, meter.units, meter.unit
        principal = call.principal
        if principal is not None and principal.credit_limited and meter.credits_nano > 0:
            try:
                held = await anyio.to_thread.run_sync(self.store.reserve, principal.key_id, call.request_id,
                                                      meter.credits_nano)
                meter.held = earlier or held is not None
            except InsufficientCredits as exc:  # an earlier hold stays flagged, so settling drops it
                available = from_nano(exc.balance_nano - exc.held_nano)
                raise APIError(402, f"insufficient credits: this request costs {from_nano(exc.cost_nano)} credits "
                                    f"({what}); the key has {available} available",
                               code="insufficient_credits") from None

    def record_units(self, request: HTTPConnection, spec: ModelSpec, units: int) -> None:
        """Meter what the engine reports it used (a completion's tokens), replacing the estimate the hold was
        taken for: the charge at settlement is for what ran, the hold only guarded the balance."""
        if not self.enabled:
            return
        call = call_of(request)
        call.meter.units = int(units)
        call.meter.credits_nano = cost_nano(spec, units)
        call.access.units = call.meter.units

    async def hold_before_decoding(self, request: HTTPConnection, spec: ModelSpec,
                                   declared: Callable[[], float | None], max_s: float) -> float:
        """Before an upload is decoded, hold credits for the most audio it may decode to, and return that many
        seconds: the decoder stops there. A key without a balance gets `max_s`, and its upload is not probed:
        `declared` (the header's duration; blocking) runs, in a thread, only when a hold is needed.

        The bounds are `pricing.decoding_hold`'s: a key without credits cannot make the server decode for free."""
        call = call_of(request)
        principal = call.principal
        price = price_nano(spec)
        if not self.enabled or principal is None or not principal.credit_limited or price <= 0:
            return max_s
        declared_s = await anyio.to_thread.run_sync(declared)
        want, need = decoding_hold(spec, declared_s, max_s)
        try:
            held = await anyio.to_thread.run_sync(self.store.reserve, principal.key_id, call.request_id, want, need)
        except InsufficientCredits as exc:
            available = from_nano(exc.balance_nano - exc.held_nano)
            what = f"{declared_s:.0f} s declared in its header" if declared_s is not None else "1 s"
            raise APIError(402, f"insufficient credits: this upload needs at least {from_nano(need)} credits "
                                f"({what} of {spec.id}); the key has {available} available",
                           code="insufficient_credits") from None
        if held is None:
            return max_s
        call.meter.held = True
        return min(max_s, held // price)

    @staticmethod
    def credits_used(request: HTTPConnection) -> float | None:
        call = call_of(request)
        return call.meter.credits if call.meter.billable else None

    @staticmethod
    def mark_failed(request: HTTPConnection) -> None:
        """A streamed response reported an error in-band (status already 200): neither store nor charge."""
        call_of(request).failed = True

    @staticmethod
    def keep_secret(request: HTTPConnection) -> None:
        """This response carries a secret (a new API key): never store it for idempotent replay."""
        call_of(request).no_store = True

    # -- idempotency bookkeeping --------------------------------------------------------------------

    def claimed(self, claim: Claim) -> None:
        self._events[(claim.key_id, claim.idem_key)] = asyncio.Event()

    async def wait_change(self, key_id: str, idem_key: str, timeout: float) -> None:
        """Sleep until the owner in this process settles, or `timeout` (another process: poll)."""
        event = self._events.get((key_id, idem_key))
        if event is None:
            await asyncio.sleep(timeout)
            return
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass

    def maybe_purge(self) -> None:
        now = time.monotonic()
        if now - self._last_purge > PURGE_EVERY_S:
            self._last_purge = now
            try:
                removed = self.store.purge_expired()
                if removed:
                    log.info("purged %d expired idempotency records", removed)
            except Exception:  # purging is housekeeping: never fail a request for it
                log.exception("idempotency purge failed")

    # -- the end of a request -----------------------------------------------------------------------

    async def settle(self, call: Call, claim: Claim | None, response: StoredResponse | None, *,
                     errored: bool, disconnected: bool) -> None:
        """Commit what the request did in one transaction: stored response (or released claim), ledger
        row and debit, dropped hold; then free the concurrency slot and wake local waiters."""
        meter = call.meter
        ok = 200 <= call.status < 400 and not call.failed
        charges: list[Charge] = []
        if meter.billable and ok and (call.completed or disconnected) and not errored and call.principal:
            rows = meter.stages or [Stage(meter.model or "", meter.unit or "", meter.units, meter.credits_nano)]
            charges = [Charge(key_id=call.principal.key_id, request_id=call.request_id, model=row.model,
                              unit=row.unit, units=row.units, credits_nano=row.credits_nano,
                              idempotency_key=call.idempotency_key) for row in rows]
        charge = charges[0] if charges else None
        # Only a request that ran is replayed: a refusal (400 bad input, 401, 402 before a top-up, 403, 409,
        # 413, 429) releases the key, so the corrected or later retry runs.
        storable = (response is not None and call.completed and not errored and not call.failed and not call.no_store
                    and 200 <= call.status < 300)
        try:
            if claim is not None or charge is not None or meter.held:
                settlement = Settlement(request_id=call.request_id, claim=claim,
                                        response=response if storable else None, charge=charge, hold=meter.held,
                                        ttl_s=self.ttl_s, more_charges=tuple(charges[1:]))
                await anyio.to_thread.run_sync(self.store.settle, settlement)
            if self.metrics is not None:
                for row in charges:
                    self.metrics.used(row.model, row.unit, row.units)
        except Exception:  # the client has its answer; a stale claim expires, so log and go on
            log.exception("settling request %s failed", call.request_id)
        finally:
            call.release_all()
            if claim is not None:
                event = self._events.pop((claim.key_id, claim.idem_key), None)
                if event is not None:
                    event.set()
