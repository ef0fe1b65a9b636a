"""When and how long to wait before re-sending a request.

Only transient failures are retried (no response, 408, 409 idempotency_in_progress, 429, 5xx), and only
when re-sending cannot repeat work: GETs, and POSTs carrying an Idempotency-Key that the server uses to
replay the first outcome instead of running (and charging) the call twice."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from voxgate.sdk.errors import parse_retry_after

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_server_delay: float = 60.0
    """A Retry-After longer than this is not waited out: the error is raised at once instead."""

    def status_is_retryable(self, response: httpx.Response) -> bool:
        forced = str(response.headers.get("x-should-retry", "")).lower()
        if forced in ("true", "false"):
            return forced == "true"
        if response.status_code == 409:
            return _error_code(response) == "idempotency_in_progress"
        return response.status_code in RETRYABLE_STATUS or response.status_code >= 500

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float | None:
        """Seconds before retry number `attempt` (0-based); None means "do not retry"."""
        if attempt >= self.max_retries:
            return None
        if response is not None:
            advised = parse_retry_after(response.headers)
            if advised is not None:
                return advised if advised <= self.max_server_delay else None
        backoff = min(self.initial_delay * float(2 ** attempt), self.max_delay)
        return backoff * (1 - 0.25 * random.random())


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    err = body.get("error") if isinstance(body, dict) else None
    code = err.get("code") if isinstance(err, dict) else None
    return code if isinstance(code, str) else None
