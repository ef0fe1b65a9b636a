"""POST /v1/audio/speech: audio streams out as each sentence is synthesised."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from voxgate.api.context import AppContext, get_ctx, require_key
from voxgate.api.spec import SPEECH_RESPONSES
from voxgate.api.sse import sse_event
from voxgate.api.voices import match_sample
from voxgate.errors import bad_request
from voxgate.gateway.auth import Principal
from voxgate.gateway.call import call_of
from voxgate.models.catalog import ModelSpec
from voxgate.transcription.fields import decode_base64
from voxgate.tts.service import Utterance

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
    language: str | None = Field(default=None, max_length=16)  # overrides the voice's own language
    reference_audio: str | None = None  # base64 or a data URL: speak in the voice matched to this clip


def _sse_events(chunks: Iterator[bytes], characters: int) -> Iterator[bytes]:
    for chunk in chunks:
        event = {"type": "speech.audio.delta", "audio": base64.b64encode(chunk).decode()}
        yield sse_event(event)
    usage = {"input_tokens": characters, "output_tokens": 0, "total_tokens": characters}
    yield sse_event({"type": "speech.audio.done", "usage": usage})


def _custom_only(spec: ModelSpec, what: str) -> None:
    if spec.engine != "kokoro":
        raise bad_request(f"{what} is a blend of Kokoro voices, and model {spec.id!r} cannot blend voices; use "
                          "model 'kokoro' (or tts-1-hd, gpt-4o-mini-tts)", param="voice", code="invalid_voice")


def _utterance(ctx: AppContext, principal: Principal, body: SpeechRequest, model: str | None) -> Utterance:
    """Resolve the voice (named, native, a blend, a custom voice id, or matched from `reference_audio`) and
    validate the request (blocking: a custom voice is read from the store, a reference clip matched)."""
    spec = ctx.speech.catalog.require(model, "speech")
    voice = body.voice.id if isinstance(body.voice, VoiceRef) else body.voice
    if body.reference_audio is not None:
        _custom_only(spec, "a voice matched from 'reference_audio'")
        data = decode_base64(body.reference_audio, "reference_audio")
        voice = match_sample(ctx, spec, data, "reference_audio").voice
    elif voice.startswith("voice_"):
        custom = ctx.voices.get(principal, voice)
        _custom_only(spec, f"custom voice {voice!r}")
        voice = custom.voice
    return ctx.speech.prepare_for(spec, body.input, voice, body.speed, body.response_format, body.language,
                                  body.instructions)


@router.post("/v1/audio/speech", responses=SPEECH_RESPONSES)
async def create_speech(body: SpeechRequest, request: Request, principal: Principal = Depends(require_key)) -> Response:
    ctx = get_ctx(request)
    model = ctx.gateway.authorize_model(principal, body.model, "speech")
    utterance = await anyio.to_thread.run_sync(_utterance, ctx, principal, body, model)
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

    headers = {"x-voxgate-voice": utterance.options.voice}  # what spoke: the native voice or the blend
    if body.stream_format == "sse":
        return StreamingResponse(_sse_events(all_chunks(), len(body.input)), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", **headers})
    return StreamingResponse(all_chunks(), media_type=utterance.media_type, headers=headers)
