"""Webhooks when a job ends: the event body, the signing secrets, the retry rule, and the sender that
drains the durable outbox (voxgate.store.deliveries).

Delivery is at-least-once: a sender that dies after POSTing but before recording the outcome leaves a
claim that expires, and the event goes out again (receivers dedupe on the event `id`). Non-2xx answers
and timeouts are retried with exponential backoff, up to `max_attempts`; every attempt is logged and
listed by GET /v1/webhooks/deliveries.

The sender is one thread running an asyncio loop with up to `workers` attempts in flight, at most one per
API key, so one key's slow receiver cannot hold up another key's events. Each attempt has one deadline
(`timeout_s`) for all of it, resolving, connecting, sending and the answer's status line: a receiver that
drip-feeds its answer is cut off there. The receiver's body is never read. The claim on a delivery lasts
longer than that deadline, so no second sender takes it over while the attempt runs. Addresses are
checked before connecting (voxgate.jobs.addresses)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from voxgate import __version__
from voxgate.config import WebhookSettings
from voxgate.jobs.addresses import AddressPolicy, BlockedAddress
from voxgate.store.interfaces import Delivery, DeliveryStore
from voxgate.webhooks import SIGNATURE_HEADER, signature_header

log = logging.getLogger("voxgate.webhooks")

SECRET_FILE = "webhook_secret"
MAX_ERROR_CHARS = 500
CLAIM_MARGIN_S = 30.0  # a claim outlives its attempt's deadline by this much


def load_or_create_secret(data_dir: Path, configured: str | None = None) -> str:
    """The workspace secret: VOXGATE_WEBHOOK_SECRET if set, else the secret in the data dir, created once
    (mode 0600). O_EXCL makes concurrent first starts agree on one secret."""
    if configured:
        return configured
    path = data_dir / SECRET_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it right now
            secret = path.read_text().strip()
            if secret:
                return secret
            time.sleep(0.02)
        raise RuntimeError(f"the webhook secret file {path} is empty") from None
    secret = "whsec_" + secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    return secret


def address_policy(settings: WebhookSettings) -> AddressPolicy:
    return AddressPolicy(allow_private=settings.allow_private, allowed=settings.networks)


def validate_url(url: str, policy: AddressPolicy) -> str | None:
    """None if `url` can receive webhooks, else why not (for a 400). A host given as a literal address is
    checked here; a name is checked when each attempt resolves it."""
    if len(url) > 2048:
        return "webhook_url is longer than 2048 characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "webhook_url is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "webhook_url must be an absolute http(s) URL"
    if parts.username or parts.password:
        return "webhook_url must not carry credentials"
    if port == 0:
        return "webhook_url has no valid port"
    return policy.check_literal(parts.hostname)


def new_event(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": "evt_" + secrets.token_hex(12), "object": "event", "type": event_type,
            "created": int(time.time()), "data": data}


def backoff(settings: WebhookSettings, attempts: int) -> float:
    """Delay after the `attempts`-th failure: base, 2x, 4x, ... capped."""
    return min(settings.retry_base_s * float(2 ** max(0, attempts - 1)), settings.retry_max_s)


def outcome(settings: WebhookSettings, delivery: Delivery, status_code: int | None) -> tuple[str, float | None]:
    """(new status, next attempt time) after one attempt: succeeded, pending (retry later) or failed."""
    attempt = delivery.attempts + 1
    if status_code is not None and 200 <= status_code < 300:
        return "succeeded", None
    if attempt >= delivery.max_attempts:
        return "failed", None
    return "pending", time.time() + backoff(settings, attempt)


class Signer:
    """The secrets a key's events are signed with: its own (and, for `grace_s` after a rotation, the one it
    replaced), then the workspace's."""

    def __init__(self, store: DeliveryStore, workspace_secret: str, grace_s: float) -> None:
        self.store = store
        self.workspace_secret = workspace_secret
        self.grace_s = grace_s

    def secrets_for(self, key_id: str) -> list[str]:
        own = self.store.signing_secret(key_id)
        keys = [own.secret]
        if own.previous and own.rotated_at is not None and time.time() - own.rotated_at < self.grace_s:
            keys.append(own.previous)
        return keys + [self.workspace_secret]


class WebhookSender:
    """A background thread whose event loop POSTs due deliveries, signed, and records each outcome."""

    def __init__(self, store: DeliveryStore, settings: WebhookSettings, signer: Signer) -> None:
        self.store = store
        self.settings = settings
        self.signer = signer
        self.policy = address_policy(settings)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="voxgate-webhooks",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def wake(self) -> None:
        """New deliveries are queued (or the sender should stop): look now instead of at the next poll."""
        loop, event = self._loop, self._wake
        if loop is not None and event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop closed in between
                pass

    async def _main(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        in_flight: dict[str, asyncio.Task[None]] = {}  # key id -> its one attempt
        hold_s = self.settings.timeout_s + CLAIM_MARGIN_S
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                     headers={"user-agent": f"voxgate-webhooks/{__version__}"}) as http:
            while not self._stopping.is_set():
                self._wake.clear()  # a wake from here on ends the wait below at once
                due: float | None = 5.0
                try:
                    while len(in_flight) < self.settings.workers:
                        busy = frozenset(in_flight)
                        row = await anyio.to_thread.run_sync(self.store.claim_due, hold_s, busy)
                        if row is None:
                            break
                        task = asyncio.create_task(self._deliver(http, row))
                        in_flight[row.key_id] = task
                        task.add_done_callback(functools.partial(self._finished, in_flight, row.key_id))
                    if len(in_flight) < self.settings.workers:
                        due = await anyio.to_thread.run_sync(self.store.next_due_in, frozenset(in_flight))
                except Exception:  # a locked or broken database must not end the sender
                    log.exception("webhook sender error")
                    due = 1.0
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=min(due if due is not None else 5.0, 5.0))
                except TimeoutError:
                    pass
            for task in in_flight.values():  # their claims expire and the events go out again later
                task.cancel()
            await asyncio.gather(*in_flight.values(), return_exceptions=True)

    def _finished(self, in_flight: dict[str, asyncio.Task[None]], key_id: str, _task: asyncio.Task[None]) -> None:
        in_flight.pop(key_id, None)
        if self._wake is not None:
            self._wake.set()

    async def _target(self, url: str) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
        """The checked address to connect to, with the Host header and TLS server name of the URL's host."""
        parsed = httpx.URL(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        ip = await self.policy.resolve(parsed.host, port)
        host_header = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
        extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
        return parsed.copy_with(host=str(ip)), {"host": host_header}, extensions

    async def _deliver(self, http: httpx.AsyncClient, row: Delivery) -> None:
        body = row.payload.encode()
        keys = await anyio.to_thread.run_sync(self.signer.secrets_for, row.key_id)
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: signature_header(body, keys),
            "voxgate-event-id": row.event_id,
            "voxgate-event-type": row.event_type,
            "voxgate-delivery-id": row.id,
            "voxgate-delivery-attempt": str(row.attempts + 1),
        }
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        blocked = False
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                target, host, extensions = await self._target(row.url)
                # Only the status matters: the receiver's body is never read (a huge or endless one costs
                # nothing) and never stored or logged (it is the receiver's data, not ours).
                async with http.stream("POST", target, content=body, headers={**headers, **host},
                                       extensions=extensions) as response:
                    status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except BlockedAddress as exc:
            error, blocked = str(exc), True
        except TimeoutError:
            error = f"no answer within {self.settings.timeout_s:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        elapsed = (time.perf_counter() - started) * 1000
        status, next_at = ("failed", None) if blocked else outcome(self.settings, row, status_code)
        await anyio.to_thread.run_sync(self.store.record, row, status_code, error, elapsed, status, next_at)
        log.info(json.dumps({"event": "webhook_delivery", "delivery_id": row.id, "event_id": row.event_id,
                             "event_type": row.event_type, "url": _origin(row.url), "attempt": row.attempts + 1,
                             "status_code": status_code, "outcome": status, "ms": round(elapsed, 1),
                             "error": error}))


def _origin(url: str) -> str:
    """scheme://host[:port] of a webhook URL, for the log: its path and query may carry the receiver's tokens."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"
