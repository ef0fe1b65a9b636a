"""Every response carries `x-request-id`; an incoming `X-Client-Request-Id` is echoed back; one JSON
access line per request (method, route, status, key id, model, units, ms; never the key itself).

Pure ASGI (not BaseHTTPMiddleware) so streamed bodies pass through untouched and headers are set
even on errors raised deep inside a handler."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterable, Iterator
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxgate.errors import APIError
from voxgate.gateway.call import AccessLog, Call, attach
from voxgate.metrics import Metrics

log = logging.getLogger("voxgate.access")

CLIENT_CLOSED = 499  # the access log's status for a request whose client left before any answer (as nginx logs it)


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def _routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Routes with a path template, FastAPI's included routers opened up (they route lazily since 0.16x and
    report no template of their own)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        elif getattr(route, "path", None):
            yield route


def _template(scope: Scope) -> str:
    """The route the request matched; for one answered before routing (an idempotent replay, a refused key or
    body) the route its path would have matched; "unmatched" for none."""
    route = scope.get("route")
    if getattr(route, "path", None):
        return str(route.path)  # type: ignore[union-attr]
    app = scope.get("app")
    for candidate in _routes(getattr(getattr(app, "router", None), "routes", ())):
        match, _ = candidate.matches(scope)
        if match is not Match.NONE:
            return str(candidate.path)
    return "unmatched"


class RequestIdMiddleware:
    """The outermost middleware: creates the request's `Call` (request id, access-log fields) and writes
    its access line when the response is over."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    def _measure(self, scope: Scope, access: AccessLog, seconds: float) -> None:
        """Requests by route template (never the raw path: ids and 404 probes would explode the series)."""
        if self.metrics is None:
            return
        self.metrics.request(_template(scope), access.method or "", access.status, access.model, seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client_id = Headers(scope=scope).get("x-client-request-id", "")[:512] or None
        access = AccessLog(request_id=new_request_id(), client_request_id=client_id, method=scope.get("method"),
                           route=scope.get("path"))
        attach(scope, Call(access=access))
        started = time.perf_counter()
        response_started = False

        async def send_with_ids(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                access.status = message["status"]
                response_started = True
                out = list(message.get("headers", []))
                out.append((b"x-request-id", access.request_id.encode()))
                if client_id:
                    out.append((b"x-client-request-id", client_id.encode("latin-1", errors="replace")))
                message["headers"] = out
            await send(message)

        try:
            await self.app(scope, receive, send_with_ids)
        except ClientDisconnect:  # the client went away mid-request: nobody to answer, nothing went wrong here
            if not response_started:
                access.status = CLIENT_CLOSED
        except Exception:  # last line of defence: never a bare 500 without the envelope
            log.exception("unhandled error in request %s", access.request_id)
            if not response_started:
                body = json.dumps(APIError(500, "internal server error", code="internal_error").body()).encode()
                await send_with_ids({"type": "http.response.start", "status": 500,
                                     "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
        finally:
            elapsed = time.perf_counter() - started
            access.ms = round(elapsed * 1000, 1)
            log.info(access.line())
            self._measure(scope, access, elapsed)


    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket session is one request: its id on the handshake's answer, one access line when it ends."""
        access = AccessLog(request_id=new_request_id(), method="WEBSOCKET", route=scope.get("path"))
        attach(scope, Call(access=access))
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("websocket.accept", "websocket.http.response.start"):
                if message["type"] == "websocket.http.response.start":
                    access.status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", access.request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            access.ms = round(elapsed * 1000, 1)
            log.info(access.line())
            self._measure(scope, access, elapsed)
