"""Webhooks when a job ends: the event body, the signing secret, the retry rule, and the sender threads
that drain the durable outbox (voxgate.store.deliveries).

Delivery is at-least-once: a sender that dies after POSTing but before recording the outcome leaves a
claim that expires, and the event goes out again (receivers dedupe on the event `id`). Non-2xx answers
and timeouts are retried with exponential backoff, up to `max_attempts`; every attempt is logged and
listed by GET /v1/webhooks/deliveries."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from voxgate import __version__
from voxgate.config import WebhookSettings
from voxgate.store.interfaces import Delivery, DeliveryStore
from voxgate.webhooks import SIGNATURE_HEADER, signature_header

log = logging.getLogger("voxgate.webhooks")

SECRET_FILE = "webhook_secret"
MAX_ERROR_CHARS = 500


def load_or_create_secret(data_dir: Path, configured: str | None = None) -> str:
    """VOXGATE_WEBHOOK_SECRET if set, else the secret in the data dir, created once (mode 0600).
    O_EXCL makes concurrent first starts agree on one secret."""
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


def validate_url(url: str) -> str | None:
    """None if `url` can receive webhooks, else why not (for a 400)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "webhook_url must be an absolute http(s) URL"
    if len(url) > 2048:
        return "webhook_url is longer than 2048 characters"
    return None


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



class WebhookSender:
    """Background threads that POST due deliveries, signed, and record each outcome."""

    def __init__(self, store: DeliveryStore, settings: WebhookSettings, secret: str, workers: int = 2) -> None:
        self.store = store
        self.settings = settings
        self.secret = secret
        self.workers = workers
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._http: httpx.Client | None = None

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._http = httpx.Client(timeout=self.settings.timeout_s, follow_redirects=False,
                                  headers={"user-agent": f"voxgate-webhooks/{__version__}"})
        for i in range(self.workers):
            thread = threading.Thread(target=self._loop, name=f"voxgate-webhooks-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        if self._http is not None:
            self._http.close()
            self._http = None

    def wake(self) -> None:
        """New deliveries are queued: look now instead of at the next poll."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                row = self.store.claim_due(hold_s=self.settings.timeout_s + 30)
                if row is not None:
                    self._deliver(row)
                    continue
                due = self.store.next_due_in()
            except Exception:  # a locked or broken database must not end the sender
                log.exception("webhook sender error")
                due = 1.0
            self._wake.wait(timeout=min(due if due is not None else 5.0, 5.0))
            self._wake.clear()

    def _deliver(self, row: Delivery) -> None:
        body = row.payload.encode()
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: signature_header(body, self.secret),
            "voxgate-event-id": row.event_id,
            "voxgate-event-type": row.event_type,
            "voxgate-delivery-id": row.id,
            "voxgate-delivery-attempt": str(row.attempts + 1),
        }
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        try:
            assert self._http is not None
            # Only the status matters: the receiver's body is never read (a huge or endless one costs
            # nothing) and never stored or logged (it is the receiver's data, not ours).
            with self._http.stream("POST", row.url, content=body, headers=headers) as response:
                status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        elapsed = (time.perf_counter() - started) * 1000
        status, next_at = outcome(self.settings, row, status_code)
        self.store.record(row, status_code, error, elapsed, status, next_at)
        log.info(json.dumps({"event": "webhook_delivery", "delivery_id": row.id, "event_id": row.event_id,
                             "event_type": row.event_type, "url": _origin(row.url), "attempt": row.attempts + 1,
                             "status_code": status_code, "outcome": status, "ms": round(elapsed, 1),
                             "error": error}))


def _origin(url: str) -> str:
    """scheme://host[:port] of a webhook URL, for the log: its path and query may carry the receiver's tokens."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"
