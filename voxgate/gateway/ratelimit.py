"""Per-key request rate (token bucket: `rpm` tokens, refilled evenly over a minute) and concurrency
(requests in flight), counted in this process's memory. Answers carry OpenAI-style x-ratelimit-* headers.

A token bucket rather than a fixed window: after a burst, the next request is allowed after 60/rpm
seconds, so a client's automatic retry (Retry-After) succeeds quickly instead of waiting a minute."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    rpm: int | None
    remaining: int
    reset_s: float  # until the bucket is full again
    retry_after_s: float  # until the request would be allowed (0 when allowed)
    concurrency: int | None = None
    in_flight: int = 0
    reason: str = ""

    def headers(self) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        if self.rpm is not None:
            out += [(b"x-ratelimit-limit-requests", str(self.rpm).encode()),
                    (b"x-ratelimit-remaining-requests", str(self.remaining).encode()),
                    (b"x-ratelimit-reset-requests", go_duration(self.reset_s).encode())]
        if self.concurrency is not None:
            out += [(b"x-ratelimit-limit-concurrency", str(self.concurrency).encode()),
                    (b"x-ratelimit-remaining-concurrency",
                     str(max(0, self.concurrency - self.in_flight)).encode())]
        return out

    def retry_headers(self) -> dict[str, str]:
        ms = max(1, math.ceil(self.retry_after_s * 1000))
        return {"retry-after": str(max(1, math.ceil(self.retry_after_s))), "retry-after-ms": str(ms)}


def go_duration(seconds: float) -> str:
    """The format OpenAI uses for x-ratelimit-reset-*: '120ms', '1.5s', '6m0s'."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{round(rest, 3):g}s"


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated


CONCURRENCY_RETRY_S = 0.5  # no way to know when a slot frees: ask for a short wait


class InMemoryRateLimiter:
    """The embedded RateLimiter. A shared one (Redis) would keep the same buckets across replicas."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    def _refill(self, key_id: str, rpm: int, now: float) -> _Bucket:
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(float(rpm), now)
        else:
            bucket.tokens = min(float(rpm), bucket.tokens + (now - bucket.updated) * rpm / 60.0)
            bucket.updated = now
        return bucket

    def _decision(self, allowed: bool, rpm: int | None, bucket: _Bucket | None, concurrency: int | None,
                  key_id: str, retry_after_s: float = 0.0, reason: str = "") -> RateDecision:
        remaining, reset_s = 0, 0.0
        if rpm is not None and bucket is not None:
            remaining = max(0, int(bucket.tokens))
            reset_s = (rpm - bucket.tokens) * 60.0 / rpm
        return RateDecision(allowed, rpm, remaining, reset_s, retry_after_s, concurrency,
                            self._in_flight.get(key_id, 0), reason)

    def admit(self, key_id: str, rpm: int | None, concurrency: int | None) -> RateDecision:
        """Take one request token and one concurrency slot, or neither (and say how long to wait)."""
        now = time.monotonic()
        with self._lock:
            bucket = self._refill(key_id, rpm, now) if rpm else None
            if concurrency and self._in_flight.get(key_id, 0) >= concurrency:
                return self._decision(False, rpm, bucket, concurrency, key_id, CONCURRENCY_RETRY_S, "concurrency")
            if bucket is not None and rpm:
                if bucket.tokens < 1.0:
                    wait = (1.0 - bucket.tokens) * 60.0 / rpm
                    return self._decision(False, rpm, bucket, concurrency, key_id, wait, "rpm")
                bucket.tokens -= 1.0
            if concurrency:
                self._in_flight[key_id] = self._in_flight.get(key_id, 0) + 1
            return self._decision(True, rpm, bucket, concurrency, key_id)

    def peek(self, key_id: str, rpm: int | None, concurrency: int | None) -> RateDecision:
        with self._lock:
            bucket = self._refill(key_id, rpm, time.monotonic()) if rpm else None
            return self._decision(True, rpm, bucket, concurrency, key_id)

    def release(self, key_id: str) -> None:
        with self._lock:
            left = self._in_flight.get(key_id, 0) - 1
            if left > 0:
                self._in_flight[key_id] = left
            else:
                self._in_flight.pop(key_id, None)
