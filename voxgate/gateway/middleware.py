"""The gateway's ASGI middleware: Idempotency-Key claim / wait / replay around each request's `Call`,
and the settle step when the response is over.

Pure ASGI, so a streamed body (TTS audio, SSE transcription) passes through to the first caller chunk
by chunk while a copy is recorded for replay; nothing is buffered on the way out."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import anyio
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxgate.errors import APIError
from voxgate.gateway.call import Call, call_of
from voxgate.gateway.fingerprint import BodyTooLarge, ClientGone, fingerprint, read_body
from voxgate.gateway.policy import MAX_STORED_BODY, Gateway
from voxgate.store.interfaces import Claim, IdempotencyRecord, StoredResponse

log = logging.getLogger("voxgate.gateway")

REPLAY_CHUNK = 1 << 16
MAX_IDEMPOTENCY_KEY = 255


class Recorder:
    """A copy of the response as it goes out, for storing once it has settled."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.size = 0

    def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.status = status
        self.headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]

    def body(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size <= MAX_STORED_BODY:
            self.chunks.append(bytes(chunk))

    def response(self, model: str | None) -> StoredResponse | None:
        if self.size > MAX_STORED_BODY or not self.status:
            return None
        return StoredResponse(status=self.status, headers=self.headers, body=b"".join(self.chunks), model=model)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        call = call_of(scope)
        headers = _headers(scope)
        idem_key = headers.get("idempotency-key")
        if idem_key is not None and scope["method"] == "POST":
            await self._idempotent(scope, receive, send, call, idem_key, headers)
        else:
            await self._run(scope, receive, send, call)

    async def _run(self, scope: Scope, receive: Receive, send: Send, call: Call,
                   claim: Claim | None = None) -> None:
        """Run the app, passing every message straight through, and settle once the response is whole:
        just before its last message goes out, so a client that has read the whole answer finds its
        ledger row and stored result already committed (or, on failure, when the app ends)."""
        recorder = Recorder() if claim is not None else None
        errored = disconnected = settled = False

        async def settle_once() -> None:
            nonlocal settled
            if settled:
                return
            settled = True
            response = recorder.response(call.meter.model) if recorder is not None else None
            with anyio.CancelScope(shield=True):
                await self.gateway.settle(call, claim, response, errored=errored, disconnected=disconnected)

        async def send_through(message: Message) -> None:
            if message["type"] == "http.response.start":
                call.status = message["status"]
                headers = list(message.get("headers", []))
                if call.meter.billable:
                    headers.append((b"x-credits-used", f"{call.meter.credits:.9g}".encode()))
                if recorder is not None:
                    recorder.start(call.status, headers)
                message = {**message, "headers": headers + self.gateway.rate_headers(call)}
            elif message["type"] == "http.response.body":
                if recorder is not None:
                    recorder.body(message.get("body", b""))
                if not message.get("more_body", False):
                    call.completed = True
                    await settle_once()
            await send(message)

        try:
            await self.app(scope, receive, send_through)
        except (ClientDisconnect, OSError):
            disconnected = True
            raise
        except BaseException:
            errored = True
            raise
        finally:
            await settle_once()
            self._log_fields(call)

    async def _idempotent(self, scope: Scope, receive: Receive, send: Send, call: Call, idem_key: str,
                          headers: dict[str, str]) -> None:
        gw = self.gateway
        principal = call.principal  # identified by the intake middleware, before any body was read
        if principal is None:  # the route's auth dependency answers 401
            await self._run(scope, receive, send, call)
            return
        if not 0 < len(idem_key) <= MAX_IDEMPOTENCY_KEY:
            await self._error(scope, receive, send, call, APIError(
                400, f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters", code="invalid_idempotency_key"))
            return
        call.idempotency_key = idem_key
        try:
            body = await read_body(receive, headers, gw.max_body)
        except BodyTooLarge:
            await self._error(scope, receive, send, call, APIError(
                413, "the request body is too large", code="file_too_large"))
            return
        except ClientGone:
            raise ClientDisconnect() from None  # logged as the client leaving (499), not as an error
        try:
            fp = fingerprint(scope["method"], scope.get("path", ""), scope.get("query_string", b""),
                             principal.key_id, body.digest)
            outcome = await self._acquire(principal.key_id, idem_key, fp, call.request_id)
            if isinstance(outcome, Claim):
                await self._run_claimed(scope, body.receive(receive), send, call, outcome)
            elif isinstance(outcome, APIError):
                if gw.metrics is not None and outcome.code:
                    gw.metrics.conflicts.labels(outcome.code).inc()
                await self._error(scope, receive, send, call, outcome)
            else:
                await self._replay(scope, send, call, outcome)
        finally:
            body.close()

    async def _run_claimed(self, scope: Scope, receive: Receive, send: Send, call: Call, claim: Claim) -> None:
        gw = self.gateway
        gw.claimed(claim)

        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(gw.heartbeat_s)
                try:
                    await anyio.to_thread.run_sync(gw.store.heartbeat, claim)
                except Exception:  # a missed beat only risks a takeover after STALE_S; keep beating
                    log.exception("idempotency heartbeat failed for request %s", call.request_id)

        beating = asyncio.ensure_future(heartbeat())
        try:
            await self._run(scope, receive, send, call, claim)
        finally:
            beating.cancel()

    async def _acquire(self, key_id: str, idem_key: str, fp: str,
                       request_id: str) -> Claim | IdempotencyRecord | APIError:
        """Claim the key, or wait for its running owner (this or another process) and return its record."""
        gw = self.gateway
        deadline = time.monotonic() + gw.wait_s
        delay = 0.01

        def claim_it() -> Claim | IdempotencyRecord:
            gw.maybe_purge()
            return gw.store.claim(key_id, idem_key, fp, request_id, gw.ttl_s, gw.stale_s)

        while True:
            found: Claim | IdempotencyRecord | None = await anyio.to_thread.run_sync(claim_it)
            while True:
                if found is None or isinstance(found, Claim):
                    break
                if found.fingerprint != fp:
                    return APIError(422, "this Idempotency-Key was already used with a different request (model, "
                                         "parameters or file differ); use a new key for a new request",
                                    code="idempotency_key_reused", param="Idempotency-Key")
                if found.state == "done":
                    return found
                if found.heartbeat_at < time.time() - gw.stale_s:
                    break  # abandoned by a dead process: claim it
                left = deadline - time.monotonic()
                if left <= 0:
                    return APIError(409, "a request with this Idempotency-Key is still in progress; retry later",
                                    code="idempotency_in_progress", headers={"retry-after": "1",
                                                                             "retry-after-ms": "1000"})
                await gw.wait_change(key_id, idem_key, min(delay, left))
                delay = min(delay * 1.5, 0.2)
                found = await anyio.to_thread.run_sync(gw.store.peek, key_id, idem_key)
            if isinstance(found, Claim):
                return found

    async def _replay(self, scope: Scope, send: Send, call: Call, record: IdempotencyRecord) -> None:
        stored = record.response
        assert stored is not None
        call.status = stored.status
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in stored.headers]
        headers.append((b"idempotent-replayed", b"true"))
        headers += self.gateway.rate_headers(call)
        await send({"type": "http.response.start", "status": stored.status, "headers": headers})
        body = stored.body
        for start in range(0, max(len(body), 1), REPLAY_CHUNK):
            end = start + REPLAY_CHUNK
            await send({"type": "http.response.body", "body": body[start:end], "more_body": end < len(body)})
        call.completed = True
        if self.gateway.metrics is not None:
            self.gateway.metrics.replays.inc()
        access = call.access
        access.replayed, access.original_request_id, access.model, access.units = True, record.request_id, \
            stored.model, 0
        self._log_fields(call)

    async def _error(self, scope: Scope, receive: Receive, send: Send, call: Call, err: APIError) -> None:
        call.status = err.status
        headers = [(b"content-type", b"application/json")]
        headers += [(k.encode(), v.encode()) for k, v in err.headers.items()]
        headers += self.gateway.rate_headers(call)
        await send({"type": "http.response.start", "status": err.status, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(err.body()).encode()})
        self._log_fields(call)

    @staticmethod
    def _log_fields(call: Call) -> None:
        access = call.access
        if call.meter.billable:
            access.credits = call.meter.credits
        if call.idempotency_key is not None and access.replayed is None:
            access.replayed = False
