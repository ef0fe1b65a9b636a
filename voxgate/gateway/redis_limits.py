"""Per-key rate limits in Redis (`VOXGATE_REDIS_URL`), so that N replicas enforce one limit: the same token
bucket and in-flight count as `InMemoryRateLimiter`, each decision one Lua script (atomic on the server, timed by
Redis' own clock, so replicas' clocks need not agree).

An in-flight slot expires after `slot_ttl_s` without a release: a replica killed mid-request cannot hold a key's
slots for ever (a request that runs longer than that frees its slot early, a bounded over-admission)."""

from __future__ import annotations

from typing import Any

import redis

from voxgate.gateway.ratelimit import CONCURRENCY_RETRY_S, RateDecision

# KEYS: the bucket hash, the in-flight counter. ARGV: rpm (0: none), concurrency (0: none), take (1: admit,
# 0: peek), the in-flight slot TTL. Returns {allowed, tokens, in_flight, reason, wait}.
_DECIDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rpm, conc, take, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4])
local tokens = -1
if rpm > 0 then
  local b = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
  if b[1] then tokens = math.min(rpm, tonumber(b[1]) + (now - tonumber(b[2])) * rpm / 60) else tokens = rpm end
end
local inflight = tonumber(redis.call('GET', KEYS[2]) or '0')
local allowed, reason, wait = 1, '', 0
if take then
  if conc > 0 and inflight >= conc then
    allowed, reason = 0, 'concurrency'
  elseif rpm > 0 and tokens < 1 then
    allowed, reason, wait = 0, 'rpm', (1 - tokens) * 60 / rpm
  else
    if rpm > 0 then tokens = tokens - 1 end
    if conc > 0 then
      inflight = redis.call('INCR', KEYS[2])
      redis.call('EXPIRE', KEYS[2], ttl)
    end
  end
end
if rpm > 0 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
  redis.call('EXPIRE', KEYS[1], 120)
end
return {allowed, tostring(tokens), inflight, reason, tostring(wait)}
"""

_RELEASE = """
local n = redis.call('DECR', KEYS[1])
if n <= 0 then redis.call('DEL', KEYS[1]) end
return n
"""


class RedisRateLimiter:
    """The shared `RateLimiter`: one token bucket and one in-flight count per key, for every replica."""

    def __init__(self, url: str, *, prefix: str = "voxgate", slot_ttl_s: int = 3600) -> None:
        self.client: Any = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.client.ping()  # a wrong URL stops the server at start-up, not at the first request
        self.prefix = prefix
        self.slot_ttl_s = slot_ttl_s
        self._decide = self.client.register_script(_DECIDE)
        self._release = self.client.register_script(_RELEASE)

    def _keys(self, key_id: str) -> list[str]:
        return [f"{self.prefix}:rate:{key_id}", f"{self.prefix}:inflight:{key_id}"]

    def _run(self, key_id: str, rpm: int | None, concurrency: int | None, take: bool) -> RateDecision:
        allowed, tokens_text, in_flight, reason, wait_text = self._decide(
            keys=self._keys(key_id), args=[rpm or 0, concurrency or 0, 1 if take else 0, self.slot_ttl_s])
        tokens = float(tokens_text)
        reason = reason.decode() if isinstance(reason, bytes) else str(reason)
        remaining, reset_s = 0, 0.0
        if rpm:
            remaining = max(0, int(tokens))
            reset_s = (rpm - tokens) * 60.0 / rpm
        retry = CONCURRENCY_RETRY_S if reason == "concurrency" else float(wait_text)
        return RateDecision(bool(allowed), rpm, remaining, reset_s, retry, concurrency, int(in_flight), reason)

    def admit(self, key_id: str, rpm: int | None, concurrency: int | None) -> RateDecision:
        """Take one request token and one concurrency slot, or neither (and say how long to wait)."""
        return self._run(key_id, rpm, concurrency, take=True)

    def peek(self, key_id: str, rpm: int | None, concurrency: int | None) -> RateDecision:
        return self._run(key_id, rpm, concurrency, take=False)

    def release(self, key_id: str) -> None:
        self._release(keys=[self._keys(key_id)[1]])
