"""GET /v1/realtime upgraded to a WebSocket: OpenAI's GA Realtime events, for live transcription
(`?intent=transcription`) or a spoken conversation with a voice pipeline (`?pipeline=<id>`).

Authentication is the Bearer header the official SDK sends, or, for browsers, the subprotocol pair
`realtime, openai-insecure-api-key.<key>`. A refused session (401, 403, 429) is refused at the handshake with
the usual error envelope; once open, bad events get `error` events and the session goes on."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from voxgate.api.context import AppContext
from voxgate.errors import APIError
from voxgate.gateway.auth import Principal, bearer_token
from voxgate.gateway.call import call_of
from voxgate.gateway.sessions import SessionGate, SessionMeter
from voxgate.realtime import (
    ConversationSession,
    PipelineInfo,
    RealtimeError,
    TranscriptionSession,
    new_session,
    parse_event,
)

router = APIRouter()
log = logging.getLogger("voxgate.realtime")

KEY_PROTOCOL = "openai-insecure-api-key."
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
CHARGE_EVERY_S = 60.0  # a ledger row at least this often (and after each completed turn)


def _offered(ws: WebSocket) -> list[str]:
    return [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]


def _token(ws: WebSocket) -> str | None:
    """The key: the Bearer header, else a browser's `openai-insecure-api-key.<key>` subprotocol."""
    token = bearer_token(ws.headers.get("authorization", ""))
    for protocol in _offered(ws):
        if protocol.startswith(KEY_PROTOCOL) and token is None:
            token = protocol[len(KEY_PROTOCOL):] or None
    return token


async def _refuse(ws: WebSocket, error: APIError) -> None:
    """Refuse the handshake with an HTTP status and the envelope where the server can, else accept, send an
    `error` event and close (a browser sees only the close code)."""
    call = call_of(ws)
    call.status = call.access.status = error.status
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(JSONResponse(error.body(), status_code=error.status))
        return
    await ws.accept()
    await ws.send_text(json.dumps(RealtimeError(error.message, code=error.code or "error", type=error.type).event()))
    await ws.close(POLICY_VIOLATION)


async def _admit(ctx: AppContext, ws: WebSocket) -> Principal:
    """The caller (401), and what it asks for: a transcription session, or a conversation with a pipeline
    (`?pipeline=<id>`, or `?model=<pipeline id>` as the SDK's `connect(model=...)` sends)."""
    token = _token(ws)
    if token is None:
        raise APIError(401, "missing API key: send 'Authorization: Bearer <key>' or the subprotocol "
                            f"'{KEY_PROTOCOL}<key>'", code="missing_api_key")
    principal = await asyncio.to_thread(ctx.gateway.identify_token, f"Bearer {token}")
    if principal is None:
        raise APIError(401, "invalid API key", code="invalid_api_key")
    call_of(ws).identify(principal)
    return principal


def _pipeline_id(ws: WebSocket) -> str | None:
    query = ws.query_params
    intent = query.get("intent")
    pipeline = query.get("pipeline") or (query.get("model") if intent != "transcription" else None)
    if pipeline is None and intent != "transcription":
        raise APIError(400, "connect with ?intent=transcription for live transcription, or ?pipeline=<id> (or "
                            "?model=<pipeline id>) for a conversation with a voice pipeline",
                       code="unsupported_intent", param="intent")
    return pipeline


async def _session(ctx: AppContext, ws: WebSocket, principal: Principal) -> TranscriptionSession:
    settings = ctx.settings.realtime
    pipeline_id = _pipeline_id(ws)

    def authorize(name: str) -> object:
        return ctx.gateway.authorize_model(principal, name, "transcription")

    if pipeline_id is None:
        model = ctx.gateway.authorize_model(principal, None, "transcription") or \
            ctx.catalog.default("transcription").id
        # built in a thread: its first VAD loads Silero, and the checks read the catalog
        return await asyncio.to_thread(functools.partial(
            TranscriptionSession, ctx.transcription, settings, new_session(model, settings.max_session_s),
            authorize=authorize))
    pipeline = await asyncio.to_thread(ctx.pipelines.for_caller, principal, pipeline_id)
    await asyncio.to_thread(ctx.voice.specs, pipeline)  # its models are installed (404 otherwise)
    info = PipelineInfo(pipeline.id, pipeline.voice, pipeline.system_prompt)
    config = new_session(pipeline.stt_model, settings.max_session_s, pipeline.language, info)
    call_of(ws).access.model = f"pipeline:{pipeline.id}"
    return await asyncio.to_thread(functools.partial(
        ConversationSession, ctx.transcription, settings, config, authorize=authorize, pipeline=pipeline,
        voice=ctx.voice, max_history=ctx.settings.pipelines.max_history))


@router.websocket("/v1/realtime")
async def realtime(ws: WebSocket) -> None:
    ctx: AppContext = ws.app.state.ctx
    settings = ctx.settings.realtime
    try:
        principal = await _admit(ctx, ws)
        session = await _session(ctx, ws, principal)
        gate = SessionGate(ctx.gateway, ctx.realtime_sessions, principal)
        gate.open()
    except RealtimeError as exc:
        await _refuse(ws, APIError(400, exc.message, code=exc.code, param=exc.param))
        return
    except APIError as exc:
        await _refuse(ws, exc)
        return
    call = call_of(ws)
    meter = SessionMeter(ctx.gateway, principal, call.request_id, settings.credit_block_s)

    async def take(seconds: float) -> None:
        await meter.take(session.spec, seconds)

    session.meter = take
    kind = "conversation" if isinstance(session, ConversationSession) else "transcription"
    ctx.metrics.realtime_sessions.labels(kind).inc()
    if isinstance(session, ConversationSession):
        session.charge = meter.charge_units
    protocol = "realtime" if "realtime" in _offered(ws) else None
    try:
        await ws.accept(subprotocol=protocol)
        call.status = call.access.status = 101
        await _serve(ws, session, meter, settings.idle_timeout_s, settings.max_session_s)
    finally:
        ctx.metrics.realtime_sessions.labels(kind).dec()
        session.close()
        gate.close()
        await asyncio.shield(_settle(ws, session, meter))


async def _settle(ws: WebSocket, session: TranscriptionSession, meter: SessionMeter) -> None:
    call = call_of(ws)
    try:
        await meter.charge(session.spec, last=True)
    except Exception:
        log.exception("charging realtime session %s failed", call.request_id)
    call.access.model, call.access.units, call.access.unit = session.spec.id, meter.charged, "seconds"


async def _serve(ws: WebSocket, session: TranscriptionSession, meter: SessionMeter, idle_s: float,
                 max_s: float) -> None:
    """Read events and write the session's, until either side closes, the session expires or idles, or the
    client stops reading."""
    session.emit(session.created())
    writer = asyncio.ensure_future(_write(ws, session))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_s
    reason: tuple[int, str] | None = None
    charged_turns = 0
    try:
        while True:
            left = deadline - loop.time()
            if left <= 0:
                session.emit(RealtimeError(f"the session reached its maximum length of {max_s:g} s",
                                           code="session_expired").event())
                reason = (1000, "session expired")
                break
            receive = asyncio.ensure_future(ws.receive())
            overflow = asyncio.ensure_future(session.overflowed.wait())
            done, _ = await asyncio.wait({receive, overflow, writer}, timeout=min(idle_s, left),
                                         return_when=asyncio.FIRST_COMPLETED)
            overflow.cancel()
            if not done:
                receive.cancel()
                if loop.time() < deadline:
                    session.emit(RealtimeError(f"no event for {idle_s:g} s: the session was closed",
                                               code="idle_timeout").event())
                    reason = (1000, "idle")
                    break
                continue
            if session.overflowed.is_set():
                receive.cancel()
                reason = (TRY_AGAIN_LATER, "the client is not reading its events")
                break
            if writer in done:
                receive.cancel()
                return
            message = receive.result()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text") if message.get("text") is not None else message.get("bytes")
            try:
                event = parse_event(text or b"", session.allowed_events)
            except RealtimeError as exc:
                session.emit(exc.event())
                continue
            await session.handle(event)
            if session.turns_completed != charged_turns or meter.received - meter.charged >= CHARGE_EVERY_S:
                charged_turns = session.turns_completed
                await meter.charge(session.spec)
    except WebSocketDisconnect:
        return
    finally:
        if reason is not None:
            await _flush_and_close(ws, session, writer, reason)
        else:
            writer.cancel()


async def _flush_and_close(ws: WebSocket, session: TranscriptionSession, writer: asyncio.Future[Any],
                           reason: tuple[int, str]) -> None:
    code, text = reason
    if code != TRY_AGAIN_LATER:
        try:
            await asyncio.wait_for(_until_sent(session), 5.0)
        except TimeoutError:
            pass
    writer.cancel()
    if ws.client_state == WebSocketState.CONNECTED:
        try:
            await ws.close(code, text)
        except Exception:  # already gone
            pass


async def _until_sent(session: TranscriptionSession) -> None:
    await session.events.join()  # every queued event written, the last one included


async def _write(ws: WebSocket, session: TranscriptionSession) -> None:
    while True:
        event = await session.events.get()
        try:
            await ws.send_text(json.dumps(event))
        except Exception:  # the client is gone: the reader sees the disconnect
            return
        finally:
            session.events.task_done()
