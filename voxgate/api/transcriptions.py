"""POST /v1/audio/transcriptions and /v1/audio/translations."""

from __future__ import annotations

import asyncio
import json
from typing import Any, AsyncIterator

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from voxgate.api.context import AppContext, get_ctx, require_key
from voxgate.api.errors import APIError, bad_request
from voxgate.api.fields import Fields
from voxgate.api.uploads import Upload, read_upload
from voxgate.asr.engine import DecodeOptions
from voxgate.asr.formats import ALL_FORMATS, render, usage
from voxgate.asr.service import TranscriptionParams
from voxgate.asr.types import Segment, Transcript
from voxgate.audio.decode import AudioDecodeError
from voxgate.models.catalog import ModelSpec
from voxgate.models.languages import normalize_language

router = APIRouter(dependencies=[Depends(require_key)])

GRANULARITIES = ("word", "segment")


def resolve_model(ctx: AppContext, fields: Fields, task: str) -> ModelSpec:
    name = fields.str("model")
    if not name:
        raise bad_request("'model' is required", param="model", code="missing_model")
    spec = ctx.catalog.resolve(name)
    if spec is None or not spec.is_available():
        raise APIError(404, f"model {name!r} does not exist; GET /v1/models lists the available ones",
                       code="model_not_found", param="model")
    if spec.task != task:
        raise bad_request(f"model {name!r} is a {spec.task} model, not a {task} model", param="model",
                          code="wrong_model_type")
    return spec


def parse_params(ctx: AppContext, fields: Fields, task: str) -> TranscriptionParams:
    """Validate every contract field; anything wrong is a 400 naming the field."""
    spec = resolve_model(ctx, fields, "transcription")
    formats = ALL_FORMATS if task == "transcribe" else tuple(f for f in ALL_FORMATS if f != "diarized_json")
    response_format = fields.str("response_format") or "json"
    if response_format not in formats:
        raise bad_request(f"response_format must be one of {', '.join(formats)}, got {response_format!r}",
                          param="response_format")
    language = None
    raw_language = fields.str("language")
    if task == "transcribe" and raw_language:
        language = normalize_language(raw_language)
        if language is None:
            raise bad_request(f"unknown language {raw_language!r}: use an ISO-639-1 code such as 'en'",
                              param="language")
    granularities = fields.list("timestamp_granularities")
    unknown = [g for g in granularities if g not in GRANULARITIES]
    if unknown:
        raise bad_request(f"timestamp_granularities must be word and/or segment, got {unknown[0]!r}",
                          param="timestamp_granularities")
    include = fields.list("include")
    if any(i != "logprobs" for i in include):
        raise bad_request("include accepts only 'logprobs'", param="include")
    words = "word" in granularities
    decode = DecodeOptions(
        task=task,
        language=language,
        prompt=fields.str("prompt"),
        temperature=fields.float("temperature", 0.0, 0.0, 1.0),
        word_timestamps=words,
    )
    return TranscriptionParams(model=spec, decode=decode, response_format=response_format, words=words,
                               stream=fields.bool("stream"))


def _rendered(transcript: Transcript, params: TranscriptionParams) -> Response:
    body, media_type = render(transcript, params.response_format, words=params.words)
    if isinstance(body, dict):
        return JSONResponse(body)
    return PlainTextResponse(body, media_type=media_type)


def _sse(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode()


async def _stream(ctx: AppContext, upload: Upload, params: TranscriptionParams, audio: Any) -> AsyncIterator[bytes]:
    """Emit each segment as a delta as soon as the engine finalises it, then done and [DONE]."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Segment | None] = asyncio.Queue()

    def on_segment(seg: Segment) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, seg)

    def work() -> Transcript:
        try:
            return ctx.transcription.transcribe(audio, params, on_segment)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    task = asyncio.ensure_future(anyio.to_thread.run_sync(work))
    try:
        while (seg := await queue.get()) is not None:
            if seg.text.strip():
                yield _sse({"type": "transcript.text.delta", "delta": seg.text})
        transcript = await task
        yield _sse({"type": "transcript.text.done", "text": transcript.text, "usage": usage(transcript)})
    except Exception:
        yield _sse({"error": {"message": "transcription failed", "type": "server_error", "param": None,
                              "code": "internal_error"}})
    finally:
        upload.discard()
    yield b"data: [DONE]\n\n"


async def _handle(request: Request, task: str) -> Response:
    ctx = get_ctx(request)
    upload = await read_upload(request, ctx.settings.data_dir / "tmp", ctx.settings.max_upload_bytes)
    try:
        params = parse_params(ctx, upload.fields, task)
        request.scope["state"].setdefault("access", {})["model"] = params.model.id
        try:
            audio = await anyio.to_thread.run_sync(ctx.transcription.load_audio, upload.path)
        except AudioDecodeError as exc:
            raise bad_request(str(exc), param="file", code="invalid_audio") from None
        if params.stream:
            stream = _stream(ctx, upload, params, audio)
            upload = None  # type: ignore[assignment]  # the stream owns and discards the file
            return StreamingResponse(stream, media_type="text/event-stream",
                                     headers={"cache-control": "no-cache"})
        transcript = await anyio.to_thread.run_sync(
            ctx.transcription.transcribe, audio, params)
        return _rendered(transcript, params)
    finally:
        if upload is not None:
            upload.discard()


@router.post("/v1/audio/transcriptions")
async def create_transcription(request: Request) -> Response:
    return await _handle(request, "transcribe")


@router.post("/v1/audio/translations")
async def create_translation(request: Request) -> Response:
    return await _handle(request, "translate")
