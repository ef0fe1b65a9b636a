"""POST /v1/audio/transcriptions and /v1/audio/translations."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from typing import Any, AsyncIterator

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from voxgate.api.context import AppContext, get_ctx, require_key
from voxgate.api.enrichment import parse_enrichment
from voxgate.api.errors import APIError, bad_request
from voxgate.api.fields import Fields
from voxgate.api.sse import DONE, sse_event
from voxgate.api.jobs import submit_job
from voxgate.api.uploads import Upload, read_upload
from voxgate.asr.engine import DecodeOptions
from voxgate.asr.formats import ALL_FORMATS, billable_seconds, render, speaker_letter, usage
from voxgate.asr.service import TranscriptionParams
from voxgate.asr.types import Segment, Transcript
from voxgate.asr.vad import VadParams
from voxgate.audio.decode import TARGET_RATE, AudioDecodeError
from voxgate.models.catalog import ModelSpec
from voxgate.models.languages import normalize_language

router = APIRouter(dependencies=[Depends(require_key)])

GRANULARITIES = ("word", "segment")
UNTIMED_FORMATS = ("json", "text")  # no segment times shown: skip word alignment


def parse_chunking(fields: Fields) -> VadParams | None:
    """chunking_strategy: "auto", or {"type": "server_vad", threshold, prefix_padding_ms, silence_duration_ms}
    (multipart sends the object as chunking_strategy[type], chunking_strategy[threshold], ...)."""
    obj = fields.dict("chunking_strategy")
    if obj is None:
        raw = fields.str("chunking_strategy")
        if raw is None or raw == "":
            return None
        if raw.strip().lower() == "auto":
            return VadParams()
        try:
            obj = json.loads(raw)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            raise bad_request("chunking_strategy must be \"auto\" or a server_vad object", param="chunking_strategy")
    sub = Fields({k: [v] for k, v in obj.items() if v is not None})
    kind = sub.str("type") or "server_vad"
    if kind == "auto":
        return VadParams()
    if kind != "server_vad":
        raise bad_request(f"chunking_strategy type must be auto or server_vad, got {kind!r}", param="chunking_strategy")
    try:
        return VadParams(
            threshold=sub.float("threshold", 0.5, 0.0, 1.0),
            prefix_padding_ms=sub.int("prefix_padding_ms", 0, 10_000) if sub.has("prefix_padding_ms") else 300,
            silence_duration_ms=sub.int("silence_duration_ms", 0, 10_000) if sub.has("silence_duration_ms") else 200,
        )
    except APIError as exc:
        raise bad_request(f"chunking_strategy: {exc.message}", param="chunking_strategy") from None


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
    enrichment = parse_enrichment(fields, response_format)
    decode = DecodeOptions(
        task=task,
        language=language,
        prompt=fields.str("prompt"),
        temperature=fields.float("temperature", 0.0, 0.0, 1.0),
        word_timestamps=words or enrichment.needs_words,  # speaker changes are found word by word
        timings=response_format not in UNTIMED_FORMATS or enrichment.diarize,
    )
    return TranscriptionParams(model=spec, decode=decode, response_format=response_format, words=words,
                               stream=fields.bool("stream"), chunking=parse_chunking(fields), enrich=enrichment)


def _rendered(transcript: Transcript, params: TranscriptionParams, credits_used: float | None = None) -> Response:
    body, media_type = render(transcript, params.response_format, words=params.words,
                              speakers=params.enrich.diarize)
    if isinstance(body, dict):
        if credits_used is not None:
            body["credits_used"] = credits_used
        return JSONResponse(body)
    return PlainTextResponse(body, media_type=media_type)


async def _stream(ctx: AppContext, upload: Upload, params: TranscriptionParams, audio: Any,
                  label: str = "") -> AsyncIterator[bytes]:
    """Emit each stitched segment as a delta as soon as it is final, then done and [DONE]; a client that
    goes away cancels the rest of the work."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Segment | None] = asyncio.Queue()
    cancel = threading.Event()

    def on_segment(seg: Segment) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, seg)

    def work() -> Transcript:
        try:
            return ctx.transcription.transcribe(audio, params, on_segment, cancel=cancel, label=label)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    task = asyncio.ensure_future(anyio.to_thread.run_sync(work))
    try:
        while (seg := await queue.get()) is not None:
            if not seg.text.strip():
                continue
            if params.enrich.diarize:  # OpenAI's diarized stream: a segment event, deltas tagged with it
                seg_id = f"seg_{seg.id + 1:03d}"
                yield sse_event({"type": "transcript.text.segment", "id": seg_id, "start": seg.start, "end": seg.end,
                            "text": seg.text.strip(), "speaker": speaker_letter(seg.speaker)})
                yield sse_event({"type": "transcript.text.delta", "delta": seg.text, "segment_id": seg_id})
            else:
                yield sse_event({"type": "transcript.text.delta", "delta": seg.text})
        transcript = await task
        yield sse_event({"type": "transcript.text.done", "text": transcript.text, "usage": usage(transcript)})
    except Exception:
        ctx.gateway.mark_failed()  # an in-band error: neither stored for replay nor charged
        yield sse_event({"error": {"message": "transcription failed", "type": "server_error", "param": None,
                              "code": "internal_error"}})
    finally:
        cancel.set()
        upload.discard()
    yield DONE


async def _handle(request: Request, task: str) -> Response:
    ctx = get_ctx(request)
    upload = await read_upload(request, ctx.settings.data_dir / "tmp", ctx.settings.max_upload_bytes)
    try:
        scoped_model = ctx.gateway.authorize_model(request, upload.fields.str("model"))  # 403 for pipeline keys
        if scoped_model:
            upload.fields.values["model"] = [scoped_model]
        params = parse_params(ctx, upload.fields, task)
        request.scope["state"].setdefault("access", {})["model"] = params.model.id
        label = str(request.scope["state"].get("request_id", ""))
        if upload.fields.bool("async"):  # queue a job: 202 now, charged when it succeeds (api/jobs.py)
            return await submit_job(request, upload, params, task)
        try:
            audio = await anyio.to_thread.run_sync(ctx.transcription.load_audio, upload.path)
        except AudioDecodeError as exc:
            raise bad_request(str(exc), param="file", code="invalid_audio") from None
        await ctx.gateway.reserve_credits(request, params.model, billable_seconds(len(audio) / TARGET_RATE))  # 402
        if params.stream:
            stream = _stream(ctx, upload, params, audio, label)
            upload = None  # type: ignore[assignment]  # the stream owns and discards the file
            return StreamingResponse(stream, media_type="text/event-stream",
                                     headers={"cache-control": "no-cache"})
        transcript = await anyio.to_thread.run_sync(
            functools.partial(ctx.transcription.transcribe, audio, params, label=label))
        return _rendered(transcript, params, ctx.gateway.credits_used(request))
    finally:
        if upload is not None:
            upload.discard()


@router.post("/v1/audio/transcriptions")
async def create_transcription(request: Request) -> Response:
    return await _handle(request, "transcribe")


@router.post("/v1/audio/translations")
async def create_translation(request: Request) -> Response:
    return await _handle(request, "translate")
