"""POST /v1/audio/speech: audio streams out as each sentence is synthesised."""

from __future__ import annotations

import base64
from typing import Any, Iterator, Literal

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from voxgate.api.context import get_ctx, require_key
from voxgate.api.errors import APIError, bad_request
from voxgate.api.sse import sse_event
from voxgate.audio.encode import CONTENT_TYPES
from voxgate.tts.engine import SpeechOptions

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


@router.post("/v1/audio/speech")
async def create_speech(body: SpeechRequest, request: Request) -> Response:
    ctx = get_ctx(request)
    body.model = ctx.gateway.authorize_model(request, body.model)
    if not body.model:
        raise bad_request("'model' is required", param="model", code="missing_model")
    spec = ctx.catalog.resolve(body.model)
    if spec is None or not spec.is_available():
        raise APIError(404, f"model {body.model!r} does not exist; GET /v1/models lists the available ones",
                       code="model_not_found", param="model")
    if spec.task != "speech":
        raise bad_request(f"model {body.model!r} is a {spec.task} model, not a speech model", param="model",
                          code="wrong_model_type")
    if not body.input.strip():
        raise bad_request("'input' must not be empty", param="input", code="empty_input")
    limit = ctx.settings.max_speech_input_chars
    if len(body.input) > limit:
        raise bad_request(f"'input' is {len(body.input)} characters; the limit is {limit}", param="input",
                          code="input_too_long")
    requested = body.voice.id if isinstance(body.voice, VoiceRef) else body.voice
    voice = spec.resolve_voice(requested)
    if voice is None:
        raise bad_request(f"unknown voice {requested!r} for model {spec.id!r}; valid voices: "
                          f"{', '.join(spec.voice_names())}", param="voice", code="invalid_voice")
    request.scope["state"].setdefault("access", {})["model"] = spec.id
    await ctx.gateway.reserve_credits(request, spec, len(body.input))  # 402 before any synthesis

    chunks = ctx.speech.stream(spec, body.input, SpeechOptions(voice=voice, speed=body.speed), body.response_format)
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
    return StreamingResponse(all_chunks(), media_type=CONTENT_TYPES[body.response_format])
