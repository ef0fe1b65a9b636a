"""POST /v1/chat/completions: OpenAI's chat completions, plain or streamed as `data:` chunks and `[DONE]`,
metered in tokens (the hold covers the prompt's estimate and `max_tokens`; the charge is the usage reported)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict

from voxgate.api.context import AppContext, get_ctx, require_key
from voxgate.api.sse import DONE, sse_event, with_first
from voxgate.errors import APIError
from voxgate.gateway.auth import Principal
from voxgate.gateway.call import call_of
from voxgate.llm import ChatTurn

router = APIRouter(dependencies=[Depends(require_key)])


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    """The OpenAI body; fields beyond these are kept and checked against the model's engine (an upstream gets
    them, the embedded engine refuses what it cannot honour)."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None  # a pipeline-scoped key may omit it
    messages: list[ChatMessage]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: dict[str, Any] | None = None
    n: int | None = None


def used_tokens(usage: Any, turn: ChatTurn, completion_estimate: int) -> int:
    """Tokens to charge: the engine's usage, else the prompt's estimate plus what was generated."""
    if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
        return int(usage["total_tokens"])
    return turn.prompt_estimate + completion_estimate


async def _events(ctx: AppContext, request: Request, turn: ChatTurn, first: dict[str, Any] | None,
                  chunks: AsyncGenerator[dict[str, Any], None]) -> AsyncIterator[bytes]:
    generated = 0
    usage: Any = None

    try:
        async for chunk in with_first(first, chunks):
            if chunk.get("usage"):
                usage = chunk["usage"]
                if not turn.include_usage:
                    chunk.pop("usage")
                    if not chunk.get("choices"):
                        continue  # the usage-only chunk the client did not ask for
            generated += 1 if chunk.get("choices") else 0
            # a client gone mid-stream is charged for what was generated so far
            ctx.gateway.record_units(request, turn.spec, used_tokens(usage, turn, generated))
            yield sse_event(chunk)
    except APIError as exc:  # the 200 is out: the error goes in-band, as OpenAI's streams do, uncharged
        ctx.gateway.mark_failed(request)
        yield sse_event(exc.body())
        return
    finally:
        await chunks.aclose()  # a client gone mid-stream stops the generation
    ctx.gateway.record_units(request, turn.spec, used_tokens(usage, turn, generated))
    yield DONE


@router.post("/v1/chat/completions")
async def create_chat_completion(body: ChatCompletionRequest, request: Request,
                                 principal: Principal = Depends(require_key)) -> Response:
    ctx = get_ctx(request)
    raw = body.model_dump(exclude_unset=True)
    model = ctx.gateway.authorize_model(principal, raw.get("model"), "chat")
    turn = ctx.chat.prepare(model, raw)
    call_of(request).access.model = turn.spec.id
    await ctx.gateway.reserve_credits(request, turn.spec, turn.hold_tokens)  # 402 before any token
    if not turn.stream:
        result = await ctx.chat.complete(turn)
        ctx.gateway.record_units(request, turn.spec, used_tokens(result.get("usage"), turn, turn.max_tokens))
        return JSONResponse(result)
    chunks = ctx.chat.stream(turn)
    # The first chunk before answering: a model that fails at once still gets a proper error status.
    first = await anext(chunks, None)
    return StreamingResponse(_events(ctx, request, turn, first, chunks), media_type="text/event-stream",
                             headers={"cache-control": "no-cache"})
