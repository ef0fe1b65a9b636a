"""An upstream OpenAI-compatible server (Ollama, vLLM, llama.cpp's server, a hosted API) behind voxgate's
keys: requests are forwarded, streams passed through chunk by chunk, and the upstream's failures become the
envelope with a status that says whose fault it is (a bad request stays 400; an unreachable, failing or
misconfigured upstream is 502; a slow one 504).

The requests go through httpcore's connection pool, the layer under httpx: httpx's client adds auth flows,
cookies, redirects and URL merging that a fixed upstream does not use, and costs about 0.1-0.2 ms a call
(bench/bench_embeddings.py), which is most of what the gateway may add to a proxied request."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpcore
import httpx

from voxgate.errors import APIError
from voxgate.models.catalog import ModelSpec

MAX_ERROR_BYTES = 64 * 1024  # of an upstream's error body, read to quote its message
MAX_LINE_BYTES = 1024 * 1024  # one SSE line of a stream; longer is a broken upstream
# What httpcore raises when the connection, not the upstream's answer, fails.
TRANSPORT_ERRORS = (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError,
                    httpcore.UnsupportedProtocol, httpcore.ConnectionNotAvailable, OSError)


def _message(body: bytes) -> str:
    try:
        data = json.loads(body)
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:500]
        if isinstance(error, str):
            return error[:500]
    except ValueError:
        pass
    return body.decode("utf-8", "replace").strip()[:200] or "no message"


def _header(response: httpcore.Response, name: bytes) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _take(response: httpcore.Response, limit: int) -> bytes:
    """The body, read until it ends or passes `limit` bytes (then a little more than `limit`)."""
    body = bytearray()
    async for block in response.aiter_stream():
        body += block
        if len(body) > limit:
            break
    return bytes(body)


async def _lines(response: httpcore.Response) -> AsyncIterator[bytes]:
    """The lines of a streamed body (SSE separates events by LF or CRLF); a line is bounded."""
    pending = b""
    async for block in response.aiter_stream():
        pending += block
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r")
        if len(pending) > MAX_LINE_BYTES:
            yield pending
            return
    if pending:
        yield pending


class UpstreamEngine:
    def __init__(self, spec: ModelSpec, api_key: Callable[[], str | None], timeout_s: float,
                 connect_timeout_s: float, max_body_bytes: int) -> None:
        self.spec = spec
        self.max_body_bytes = max_body_bytes  # what one answer may hold in memory
        self.base = str(spec.options["base_url"]).rstrip("/")
        self.api_key = api_key  # read per request: a rotated key needs no restart
        self.timeout_s = timeout_s
        # each read, write and the connect bounded; the whole request by a deadline on top
        self.timeouts = {"connect": connect_timeout_s, "read": timeout_s, "write": timeout_s, "pool": timeout_s}
        # httpx's CA bundle (certifi), so an https upstream is checked as the SDK would check it
        self.pool = httpcore.AsyncConnectionPool(ssl_context=httpx.create_ssl_context(), max_connections=100,
                                                 max_keepalive_connections=20, keepalive_expiry=5.0)

    def _request(self, path: str, payload: dict[str, Any]) -> tuple[str, list[tuple[bytes, bytes]], bytes]:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        headers = [(b"Content-Type", b"application/json"), (b"Content-Length", str(len(body)).encode()),
                   (b"Accept", b"application/json, text/event-stream")]
        key = self.api_key()
        if key:
            headers.append((b"Authorization", f"Bearer {key}".encode()))
        return self.base + path, headers, body

    def _name(self) -> str:
        return f"upstream of model {self.spec.id!r}"

    async def _failed(self, response: httpcore.Response) -> APIError:
        body = await _take(response, MAX_ERROR_BYTES)
        message = f"{self._name()} answered {response.status}: {_message(body)}"
        status = response.status
        if status in (400, 404, 413, 422):  # the request itself is wrong: the client's to fix
            return APIError(400, message, code="upstream_rejected")
        if status == 429:
            retry = _header(response, b"retry-after")
            return APIError(429, message, code="upstream_rate_limited",
                            headers={"Retry-After": retry} if retry else None)
        # 401/403 mean the operator's key is wrong, 5xx the upstream is broken: neither is the caller's fault
        return APIError(502, message, code="upstream_error", type="server_error")

    def _unreachable(self, exc: BaseException) -> APIError:
        if isinstance(exc, (httpcore.TimeoutException, TimeoutError)):
            return APIError(504, f"{self._name()} did not answer within {self.timeout_s:g} s", code="upstream_timeout",
                            type="server_error")
        return APIError(502, f"{self._name()} is unreachable: {type(exc).__name__}", code="upstream_unavailable",
                        type="server_error")

    def _clean(self, obj: Any) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise APIError(502, f"{self._name()} sent something that is not a JSON object", code="upstream_error",
                           type="server_error")
        obj["model"] = self.spec.id
        return obj

    async def complete(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.post("/chat/completions", payload)

    async def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Forward one JSON request to `base_url + path` (an upstream's /embeddings, /images/generations too)."""
        url, headers, content = self._request(path, payload)
        try:
            with anyio.fail_after(self.timeout_s):
                async with self.pool.stream("POST", url, headers=headers, content=content,
                                            extensions={"timeout": self.timeouts}) as response:
                    if response.status >= 400:
                        raise await self._failed(response)
                    body = await _take(response, self.max_body_bytes)
                    if len(body) > self.max_body_bytes:  # a broken upstream must not exhaust memory
                        raise APIError(502, f"{self._name()} sent an answer over {self.max_body_bytes} bytes",
                                       code="upstream_error", type="server_error")
        except APIError:
            raise
        except (*TRANSPORT_ERRORS, TimeoutError) as exc:
            raise self._unreachable(exc) from None
        try:
            return self._clean(json.loads(body))
        except ValueError:
            raise APIError(502, f"{self._name()} sent invalid JSON", code="upstream_error",
                           type="server_error") from None

    def stream(self, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        return self.stream_from("/chat/completions", payload)

    async def stream_from(self, path: str, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The `data:` events of a streamed upstream answer, one JSON object each, until `[DONE]` or its end."""
        # No cancel scope here: a stream's first chunk is read in the handler's task and the rest in the
        # response's, so the whole-completion bound is a deadline checked per line (each read is bounded too).
        deadline = time.monotonic() + self.timeout_s
        url, headers, content = self._request(path, payload)
        try:
            async with self.pool.stream("POST", url, headers=headers, content=content,
                                        extensions={"timeout": self.timeouts}) as response:
                if response.status >= 400:
                    raise await self._failed(response)
                async for line in _lines(response):
                    if time.monotonic() > deadline:
                        raise TimeoutError
                    if len(line) > MAX_LINE_BYTES:
                        raise APIError(502, f"{self._name()} sent an over-long line", code="upstream_error",
                                       type="server_error")
                    if not line.startswith(b"data:"):
                        continue  # comments, `event:` lines, blank separators
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        return
                    try:
                        chunk = json.loads(data)
                    except ValueError:
                        raise APIError(502, f"{self._name()} sent invalid JSON in its stream",
                                       code="upstream_error", type="server_error") from None
                    if isinstance(chunk, dict) and "error" in chunk:
                        raise APIError(502, f"{self._name()} failed mid-stream: {_message(data)}",
                                       code="upstream_error", type="server_error")
                    yield self._clean(chunk)
        except APIError:
            raise
        except (*TRANSPORT_ERRORS, TimeoutError) as exc:
            raise self._unreachable(exc) from None
