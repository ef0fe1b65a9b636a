"""The gateway's first look at a request, before any of its body is read: who is calling, and how much
body the route may receive.

An unauthenticated /v1 request is answered 401 without reading its body (a 400 MB body with no key costs
nothing). The body is then bounded by the bytes actually received, whatever `Content-Length` says and for
chunked uploads too: uploads get `upload_limit`, routes taking a voice sample `sample_limit`, every other
route `json_limit`. Past the limit the request
is answered 413 at once and the application is told the client went away, so nothing downstream (FastAPI's
JSON parse, the multipart spooler, the idempotency reader) buffers more. The key lookup runs off the event
loop."""

from __future__ import annotations

import json

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxgate.errors import APIError
from voxgate.gateway.auth import bearer_token
from voxgate.gateway.call import Call, call_of
from voxgate.gateway.policy import Gateway

UPLOAD_ROUTES = ("/v1/audio/transcriptions", "/v1/audio/translations")
SAMPLE_ROUTES = ("/v1/audio/speech", "/v1/audio/voices")  # bodies that may carry a voice sample


def is_pipeline_run(route: str) -> bool:
    """POST /v1/pipelines/{id}/run takes the user's audio, as the upload routes do."""
    return route.startswith("/v1/pipelines/") and route.endswith("/run") and route.count("/") == 4


def _too_large(limit: int) -> APIError:
    return APIError(413, f"the request body exceeds this route's limit of {limit} bytes", code="body_too_large")


class IntakeMiddleware:
    def __init__(self, app: ASGIApp, gateway: Gateway, upload_limit: int, json_limit: int,
                 sample_limit: int | None = None) -> None:
        self.app = app
        self.gateway = gateway
        self.upload_limit = upload_limit
        self.json_limit = json_limit
        self.sample_limit = sample_limit or json_limit

    def limit(self, path: str) -> int:
        route = path.rstrip("/")
        if route in UPLOAD_ROUTES or is_pipeline_run(route):
            return self.upload_limit
        return self.sample_limit if route in SAMPLE_ROUTES else self.json_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        call = call_of(scope)
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        if bearer_token(authorization) is None:
            await self._refuse(send, APIError(401, "missing API key: send 'Authorization: Bearer <key>'",
                                              code="missing_api_key"), call)
            return
        principal = self.gateway.identify_bootstrap(authorization) or \
            await anyio.to_thread.run_sync(self.gateway.identify_token, authorization)
        if principal is None:
            await self._refuse(send, APIError(401, "invalid API key", code="invalid_api_key"), call)
            return
        call.identify(principal)
        limit = self.limit(path)
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(send, _too_large(limit), call)
            return
        await self._bounded(scope, receive, send, limit, call)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, limit: int, call: Call) -> None:
        received = 0
        refused = False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await self._refuse(send, _too_large(limit), call)
                    return {"type": "http.disconnect"}
            return message

        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused and not started:
                return  # the 413 went out; the app's own answer to the "disconnect" is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except Exception:
            if not refused:
                raise  # after a refusal the app only sees a vanished client: nothing to report

    @staticmethod
    async def _refuse(send: Send, err: APIError, call: Call) -> None:
        """Answer now; a body still on its way is discarded by the transport (for a while, then it closes)."""
        call.status = err.status
        body = json.dumps(err.body()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers += [(k.encode(), v.encode()) for k, v in err.headers.items()]
        await send({"type": "http.response.start", "status": err.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
