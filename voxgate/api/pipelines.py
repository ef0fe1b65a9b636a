"""Voice pipelines: admins manage them (POST/GET/PATCH/DELETE /v1/pipelines), any key allowed to runs one
(POST /v1/pipelines/{id}/run): the user's audio in, an SSE stream out — the transcript, the reply's tokens
and its audio clause by clause, then `pipeline.done` with usage and timings (or one JSON object)."""

from __future__ import annotations

import base64
import functools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict

from voxgate.api.context import AppContext, get_ctx, require_admin, require_uploader
from voxgate.api.spec import PIPELINE_RUN_BODY
from voxgate.api.sse import DONE, sse_event
from voxgate.api.uploads import read_upload
from voxgate.audio.encode import CONTENT_TYPES, OUTPUT_RATE
from voxgate.errors import APIError, bad_request
from voxgate.gateway.auth import Principal
from voxgate.gateway.call import call_of
from voxgate.gateway.pipelines import Pipeline
from voxgate.pipelines import Heard
from voxgate.pipelines.service import Clock

router = APIRouter()
TTS_CHARS_PER_TOKEN = 8  # the most characters a reply token speaks, for the credit hold


class PipelineFields(BaseModel):
    """The pipeline's fields; on create every one but `id` has a default, on PATCH only those sent change."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    stt_model: str | None = None
    llm_model: str | None = None
    tts_model: str | None = None
    voice: str | None = None
    system_prompt: str | None = None
    language: str | None = None
    max_reply_tokens: int | None = None
    temperature: float | None = None


def _ctx(request: Request) -> AppContext:
    return get_ctx(request)


@router.post("/v1/pipelines", status_code=201, dependencies=[Depends(require_admin)])
async def create_pipeline(body: PipelineFields, request: Request) -> dict[str, Any]:
    ctx = _ctx(request)
    pipeline = await anyio.to_thread.run_sync(ctx.pipelines.create, body.model_dump(exclude_unset=True))
    return pipeline.public()


@router.get("/v1/pipelines", dependencies=[Depends(require_admin)])
async def list_pipelines(request: Request) -> dict[str, Any]:
    pipelines = await anyio.to_thread.run_sync(_ctx(request).pipelines.list_all)
    return {"object": "list", "data": [p.public() for p in pipelines]}


@router.get("/v1/pipelines/{pipeline_id}", dependencies=[Depends(require_admin)])
async def get_pipeline(pipeline_id: str, request: Request) -> dict[str, Any]:
    return (await anyio.to_thread.run_sync(_ctx(request).pipelines.get, pipeline_id)).public()


@router.patch("/v1/pipelines/{pipeline_id}", dependencies=[Depends(require_admin)])
async def update_pipeline(pipeline_id: str, body: PipelineFields, request: Request) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    return (await anyio.to_thread.run_sync(_ctx(request).pipelines.update, pipeline_id, changes)).public()


@router.delete("/v1/pipelines/{pipeline_id}", dependencies=[Depends(require_admin)])
async def delete_pipeline(pipeline_id: str, request: Request) -> dict[str, Any]:
    await anyio.to_thread.run_sync(_ctx(request).pipelines.delete, pipeline_id)
    return {"id": pipeline_id, "object": "pipeline.deleted", "deleted": True}


# -- running one -------------------------------------------------------------------------------------------------


async def _turn(http: Request, ctx: AppContext, principal: Principal, pipeline: Pipeline, heard: Heard,
                history: list[dict[str, str]], conversation_id: str, response_format: str,
                clock: Clock) -> AsyncIterator[dict[str, Any]]:
    """The events after the transcript; the stages are metered and the turn remembered once it is over."""
    _, llm, tts = ctx.voice.specs(pipeline)
    async for event in ctx.voice.answer(pipeline, history, heard, response_format, clock):
        if event["type"] == "pipeline.done":
            usage = event["usage"]
            ctx.gateway.record_stage(http, llm, usage["llm"]["total_tokens"])
            ctx.gateway.record_stage(http, tts, usage["tts"]["characters"])
            await anyio.to_thread.run_sync(ctx.pipelines.remember, principal, conversation_id, pipeline, history,
                                           heard.text, event["reply"])
            event["conversation_id"] = conversation_id
            credits = ctx.gateway.credits_used(http)
            if credits is not None:
                event["credits_used"] = credits
        yield event


async def _sse(http: Request, first: dict[str, Any], events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    yield sse_event(first)
    try:
        async for event in events:
            yield sse_event(event)
    except APIError as exc:  # after the 200: in-band, neither stored nor charged
        get_ctx(http).gateway.mark_failed(http)
        yield sse_event({"type": "pipeline.error", "error": exc.body()["error"]})
    except Exception:
        get_ctx(http).gateway.mark_failed(http)
        yield sse_event({"type": "pipeline.error", "error": {"message": "the pipeline failed", "type": "server_error",
                                                             "param": None, "code": "internal_error"}})
    yield DONE


async def _whole(first: dict[str, Any], events: AsyncIterator[dict[str, Any]], response_format: str) -> Response:
    audio = bytearray()
    reply_parts: list[str] = []
    done: dict[str, Any] = {}
    async for event in events:
        if event["type"] == "pipeline.audio.delta":
            audio += base64.b64decode(event["audio"])
        elif event["type"] == "pipeline.reply.delta":
            reply_parts.append(event["delta"])
        elif event["type"] == "pipeline.done":
            done = event
    body = {"object": "pipeline.run", "transcript": first["text"], "language": first["language"],
            **{k: v for k, v in done.items() if k not in ("type", "transcript", "language")},
            "audio": base64.b64encode(bytes(audio)).decode(), "format": response_format, "sample_rate": OUTPUT_RATE}
    return JSONResponse(body)


@router.post("/v1/pipelines/{pipeline_id}/run", openapi_extra=PIPELINE_RUN_BODY)
async def run_pipeline(pipeline_id: str, http: Request, principal: Principal = Depends(require_uploader)) -> Response:
    ctx = _ctx(http)
    upload = await read_upload(http, ctx.settings.tmp_dir, ctx.settings.limits.max_upload_bytes)
    try:
        await ctx.gateway.occupy(http)  # the key's concurrency slot, now that the audio is in (429)
        clock = Clock()  # timings count from the end of the upload
        pipeline = await anyio.to_thread.run_sync(ctx.pipelines.for_caller, principal, pipeline_id)
        fields = upload.fields
        conversation_id = ctx.pipelines.conversation_id(fields.text("conversation_id"))
        stream = fields.flag("stream", default=True)
        response_format = fields.text("response_format") or "pcm"
        if response_format not in CONTENT_TYPES:
            raise bad_request(f"'response_format' must be one of {', '.join(CONTENT_TYPES)}",
                              param="response_format")
        stt, llm, tts = ctx.voice.specs(pipeline)
        call_of(http).access.model = f"pipeline:{pipeline.id}"
        audio = await anyio.to_thread.run_sync(ctx.transcription.load_audio, upload.path,
                                               ctx.settings.pipelines.max_audio_s)
        history = (await anyio.to_thread.run_sync(ctx.pipelines.history, principal, conversation_id)
                   if conversation_id else [])
        reply = pipeline.max_reply_tokens
        await ctx.gateway.reserve_stages(http, f"pipeline:{pipeline.id}", [  # 402 before any model runs
            (stt, max(1, round(audio.duration + 0.5))),
            (llm, sum(len(m["content"]) for m in history) // 2 + len(pipeline.system_prompt) // 2 + 256 + reply),
            (tts, reply * TTS_CHARS_PER_TOKEN)])
        try:
            heard = await anyio.to_thread.run_sync(functools.partial(ctx.voice.hear, pipeline, audio,
                                                                     label=call_of(http).request_id))
        finally:
            audio.close()
        clock.mark("stt_ms")
        ctx.gateway.record_stage(http, stt, int(heard.seconds))
        first = {"type": "pipeline.transcript", "text": heard.text, "language": heard.language}
        events = _turn(http, ctx, principal, pipeline, heard, history,
                       conversation_id or f"conv_{uuid.uuid4().hex}", response_format, clock)
        if not stream:
            return await _whole(first, events, response_format)
        return StreamingResponse(_sse(http, first, events), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})
    finally:
        upload.discard()
