"""Every response carries `x-request-id`; an incoming `X-Client-Request-Id` is echoed back; one JSON
access line per request (method, route, status, key id, model, units, ms; never the key itself).

Pure ASGI (not BaseHTTPMiddleware) so streamed bodies pass through untouched and headers are set
even on errors raised deep inside a handler."""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxgate.errors import APIError

log = logging.getLogger("voxgate.access")


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode(errors="replace") for k, v in scope.get("headers", [])}
        request_id = new_request_id()
        client_id = headers.get("x-client-request-id", "")[:512] or None
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status_holder = {"status": 0, "started": False}

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                out = list(message.get("headers", []))
                out.append((b"x-request-id", request_id.encode()))
                if client_id:
                    out.append((b"x-client-request-id", client_id.encode("latin-1", errors="replace")))
                message["headers"] = out
            await send(message)

        try:
            await self.app(scope, receive, send_with_ids)
        except Exception:  # last line of defence: never a bare 500 without the envelope
            log.exception("unhandled error in request %s", request_id)
            if not status_holder["started"]:
                body = json.dumps(APIError(500, "internal server error", code="internal_error").body()).encode()
                await send_with_ids({"type": "http.response.start", "status": 500,
                                     "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
                status_holder["status"] = 500
        finally:
            access: dict[str, Any] = {
                "event": "access", "request_id": request_id, "client_request_id": client_id,
                "method": scope.get("method"), "route": scope.get("path"), "status": status_holder["status"],
                "ms": round((time.perf_counter() - started) * 1000, 1), "key_id": None, "model": None,
                "units": None,
            }
            access.update(state.get("access", {}))
            log.info(json.dumps(access))
