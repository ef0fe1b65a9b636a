"""POST /v1/responses: OpenAI's Responses API on the chat engines (plain, or streamed as Responses events),
with `previous_response_id` continuing a conversation kept per key; metered in tokens like chat."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict

from voxgate.api.chat import used_tokens
from voxgate.api.context import AppContext, get_ctx, require_key
from voxgate.api.sse import sse_event, with_first
from voxgate.errors import APIError
from voxgate.gateway.auth import Principal
from voxgate.gateway.call import call_of
from voxgate.llm import ChatTurn
from voxgate.llm.responses import EventStream, chat_body, new_ids, response_object

router = APIRouter(dependencies=[Depends(require_key)])


class ResponsesBody(BaseModel):
    """The Responses request; fields beyond these are refused by name (`voxgate.llm.responses.FIELDS`)."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    input: Any = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stream: bool | None = None
    previous_response_id: str | None = None
    store: bool | None = None
    metadata: dict[str, Any] | None = None
    user: str | None = None


class _Turn:
    """One response being made: its ids, the conversation it extends, and how to remember it."""

    def __init__(self, ctx: AppContext, principal: Principal, raw: dict[str, Any], turn: ChatTurn) -> None:
        self.ctx, self.principal, self.raw, self.turn = ctx, principal, raw, turn
        self.response_id, self.message_id = new_ids()

    async def remember(self, text: str) -> None:
        if self.raw.get("store") is False:
            return
        messages = [*self.turn.payload["messages"], {"role": "assistant", "content": text}]
        await anyio.to_thread.run_sync(self.ctx.responses.keep, self.principal, self.response_id, messages)


async def _events(request: Request, t: _Turn, first: dict[str, Any] | None,
                  chunks: AsyncGenerator[dict[str, Any], None]) -> AsyncIterator[bytes]:
    ctx, turn = t.ctx, t.turn
    stream = EventStream(t.response_id, t.message_id, turn.spec.id, t.raw)
    for event in stream.opening():
        yield sse_event(event)
    text, finish, usage, generated = "", None, None, 0

    try:
        async for chunk in with_first(first, chunks):
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or []:
                finish = choice.get("finish_reason") or finish
                delta = (choice.get("delta") or {}).get("content") or ""
                if delta:
                    text += delta
                    generated += 1
                    ctx.gateway.record_units(request, turn.spec, used_tokens(usage, turn, generated))
                    yield sse_event(stream.delta(delta))
    except APIError as exc:  # in-band, as the Responses stream reports failures; neither stored nor charged
        ctx.gateway.mark_failed(request)
        yield sse_event(stream.event("error", code=exc.code, message=exc.message, param=exc.param,
                                     error=exc.body()["error"]))
        return
    finally:
        await chunks.aclose()
    ctx.gateway.record_units(request, turn.spec, used_tokens(usage, turn, generated))
    await t.remember(text)
    for event in stream.closing(text, finish, usage):
        yield sse_event(event)


@router.post("/v1/responses")
async def create_response(body: ResponsesBody, request: Request,
                          principal: Principal = Depends(require_key)) -> Response:
    ctx = get_ctx(request)
    raw = body.model_dump(exclude_unset=True)
    model = ctx.gateway.authorize_model(principal, raw.get("model"), "chat")
    previous = raw.get("previous_response_id")
    history = await anyio.to_thread.run_sync(ctx.responses.history, principal, previous) if previous else []
    turn = ctx.chat.prepare(model, chat_body(raw, history))
    call_of(request).access.model = turn.spec.id
    await ctx.gateway.reserve_credits(request, turn.spec, turn.hold_tokens)  # 402 before any token
    t = _Turn(ctx, principal, raw, turn)
    if not turn.stream:
        result = await ctx.chat.complete(turn)
        choice = (result.get("choices") or [{}])[0]
        text = (choice.get("message") or {}).get("content") or ""
        ctx.gateway.record_units(request, turn.spec, used_tokens(result.get("usage"), turn, turn.max_tokens))
        await t.remember(text)
        return JSONResponse(response_object(t.response_id, t.message_id, turn.spec.id, raw, text,
                                            choice.get("finish_reason"), result.get("usage")))
    chunks = ctx.chat.stream(turn)
    first = await anext(chunks, None)  # a model that fails at once still gets a proper error status
    return StreamingResponse(_events(request, t, first, chunks), media_type="text/event-stream",
                             headers={"cache-control": "no-cache"})
