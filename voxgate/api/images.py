"""POST /v1/images/generations: no image weights ship in a registry package, so image generation exists only
through an upstream (a catalog entry of engine `openai-compatible` and task `image`); without one, 404.
Forwarded (streamed when asked), metered per image at the entry's price, under the same keys."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict

from voxgate.api.context import get_ctx, require_key
from voxgate.api.sse import sse_event, with_first
from voxgate.errors import APIError, bad_request
from voxgate.gateway.auth import Principal
from voxgate.gateway.call import call_of

router = APIRouter(dependencies=[Depends(require_key)])
MAX_PROMPT_CHARS = 32_000
MAX_IMAGES = 10


class ImageBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str | None = None
    prompt: str | None = None
    n: int | None = None
    stream: bool | None = None


async def _events(request: Request, first: dict[str, Any] | None,
                  events: AsyncGenerator[dict[str, Any], None]) -> AsyncIterator[bytes]:
    try:
        async for event in with_first(first, events):
            yield sse_event(event)
    except APIError as exc:
        get_ctx(request).gateway.mark_failed(request)
        yield sse_event({"type": "error", "error": exc.body()["error"]})
    finally:
        await events.aclose()


@router.post("/v1/images/generations")
async def create_image(body: ImageBody, request: Request, principal: Principal = Depends(require_key)) -> Response:
    ctx = get_ctx(request)
    raw = body.model_dump(exclude_unset=True)
    model = ctx.gateway.authorize_model(principal, raw.get("model"), "image")
    if not model:
        images = [s.id for s in ctx.catalog.models.values() if s.task == "image" and s.is_available()]
        raise APIError(404, "no image model named: image generation runs on an upstream, and "
                            + (f"this server has {', '.join(images)}" if images else "this server has none configured"),
                       code="model_not_found", param="model")
    spec = ctx.catalog.require(model, "image")
    prompt = raw.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_PROMPT_CHARS:
        raise bad_request(f"'prompt' must be a non-empty string of at most {MAX_PROMPT_CHARS} characters",
                          param="prompt")
    n = raw.get("n") or 1
    if not 1 <= n <= MAX_IMAGES:
        raise bad_request(f"'n' must be from 1 to {MAX_IMAGES}", param="n")
    call_of(request).access.model = spec.id
    await ctx.gateway.reserve_credits(request, spec, n)  # per image, at the entry's price
    if raw.get("stream"):
        events = ctx.chat.forward_stream(spec, "/images/generations", raw)
        first = await anext(events, None)  # an upstream that refuses at once still gets a proper status
        return StreamingResponse(_events(request, first, events), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})
    return JSONResponse(await ctx.chat.forward(spec, "/images/generations", raw))
