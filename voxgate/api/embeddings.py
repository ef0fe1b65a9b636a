"""POST /v1/embeddings: OpenAI's embeddings, metered in tokens: computed here off the event loop in shared
batches, or forwarded to the upstream a catalog entry names."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from voxgate.api.context import get_ctx, require_key
from voxgate.gateway.auth import Principal
from voxgate.gateway.call import call_of

router = APIRouter(dependencies=[Depends(require_key)])


class EmbeddingBody(BaseModel):
    """The OpenAI body; the service checks `input` (strings only) and refuses unknown fields."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    input: Any = None
    encoding_format: str | None = None
    dimensions: int | None = None
    user: str | None = None


@router.post("/v1/embeddings")
async def create_embeddings(body: EmbeddingBody, request: Request,
                            principal: Principal = Depends(require_key)) -> JSONResponse:
    ctx = get_ctx(request)
    raw = body.model_dump(exclude_unset=True)
    model = ctx.gateway.authorize_model(principal, raw.get("model"), "embedding")
    spec = ctx.catalog.require(model, "embedding")
    if spec.remote:  # an upstream embeds: forwarded, metered by the usage it reports
        call_of(request).access.model = spec.id
        estimate = ctx.embeddings.check_remote(raw)
        await ctx.gateway.reserve_credits(request, spec, estimate)
        result = await ctx.chat.forward(spec, "/embeddings", raw)
        usage = result.get("usage")
        reported = usage.get("total_tokens") if isinstance(usage, dict) else None
        ctx.gateway.record_units(request, spec, int(reported) if isinstance(reported, int) else estimate)
        return JSONResponse(result)
    job = await anyio.to_thread.run_sync(ctx.embeddings.prepare, model, raw)  # tokenising is CPU work
    call_of(request).access.model = job.spec.id
    await ctx.gateway.reserve_credits(request, job.spec, job.tokens)  # 402 before the model runs
    result = await anyio.to_thread.run_sync(ctx.embeddings.run, job)
    return JSONResponse(result)
