"""POST /v1/audio/speech: audio streams out as each sentence is synthesised."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from voxgate.api.context import get_ctx, require_key
from voxgate.api.sse import sse_event
from voxgate.gateway.auth import Principal
from voxgate.gateway.call import call_of

router = APIRouter(dependencies=[Depends(require_key)])


class VoiceRef(BaseModel):
    id: str


class SpeechRequest(BaseModel):
    """The OpenAI speech body; unknown top-level keys (extra_body) are kept, not rejected."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None  # a pipeline-scoped key may omit it
    input: str
    voice: str | VoiceRef
    instructions: str | None = Field(default=None, max_length=4096)
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    stream_format: Literal["audio", "sse"] = "audio"


def _sse_events(chunks: Iterator[bytes], characters: int) -> Iterator[bytes]:
    for chunk in chunks:
        event = {"type": "speech.audio.delta", "audio": base64.b64encode(chunk).decode()}
        yield sse_event(event)
    usage = {"input_tokens": characters, "output_tokens": 0, "total_tokens": characters}
    yield sse_event({"type": "speech.audio.done", "usage": usage})


@router.get("/v1/audio/voices")
async def list_voices(request: Request, model: str | None = None) -> dict[str, Any]:
    """Every voice of every speech model (`?model=` for one): native ids work as `voice` on their model."""
    return {"object": "list", "data": get_ctx(request).speech.voices(model)}


@router.post("/v1/audio/speech")
async def create_speech(body: SpeechRequest, request: Request, principal: Principal = Depends(require_key)) -> Response:
    ctx = get_ctx(request)
    requested = body.voice.id if isinstance(body.voice, VoiceRef) else body.voice
    utterance = ctx.speech.prepare(ctx.gateway.authorize_model(principal, body.model), body.input, requested,
                                   body.speed, body.response_format)
    call_of(request).access.model = utterance.spec.id
    await ctx.gateway.reserve_credits(request, utterance.spec, len(body.input))  # 402 before any synthesis

    chunks = ctx.speech.stream(utterance)
    # Synthesise the first piece before answering, so a failure is still a proper error status
    # and the first body bytes follow the headers at once.
    first: Any = await anyio.to_thread.run_sync(next, chunks, None)
    head = [first] if first is not None else []

    def all_chunks() -> Iterator[bytes]:
        yield from head
        yield from chunks

    if body.stream_format == "sse":
        return StreamingResponse(_sse_events(all_chunks(), len(body.input)), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache"})
    return StreamingResponse(all_chunks(), media_type=utterance.media_type)
