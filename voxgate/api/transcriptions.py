"""POST /v1/audio/transcriptions and /v1/audio/translations: read the upload, validate it into a
TranscriptionRequest, then answer now (JSON or text), stream SSE, or queue an async job."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from voxgate.api.context import AppContext, get_ctx, require_uploader
from voxgate.api.jobs import submit_job
from voxgate.api.spec import TRANSCRIPT_RESPONSES, upload_body
from voxgate.api.sse import DONE, sse_event
from voxgate.api.uploads import Upload, read_upload
from voxgate.audio.decode import PcmFile
from voxgate.errors import APIError
from voxgate.gateway.auth import Principal
from voxgate.gateway.call import call_of
from voxgate.transcript import Segment, Transcript
from voxgate.transcription import Task, TranscriptionRequest, billable_seconds, languages, speaker_letter, usage

router = APIRouter(dependencies=[Depends(require_uploader)])


def _rendered(ctx: AppContext, transcript: Transcript, request: TranscriptionRequest,
              credits_used: float | None = None) -> Response:
    body, media_type = ctx.transcription.render(transcript, request)
    if isinstance(body, dict):
        if credits_used is not None:
            body["credits_used"] = credits_used
        return JSONResponse(body)
    return PlainTextResponse(body, media_type=media_type)


async def _stream(http: Request, upload: Upload, request: TranscriptionRequest, audio: PcmFile) -> AsyncIterator[bytes]:
    """Emit each stitched segment as a delta as soon as it is final, then done and [DONE]; a client that
    goes away cancels the rest of the work."""
    ctx = get_ctx(http)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Segment | None] = asyncio.Queue()
    cancel = threading.Event()
    label = call_of(http).request_id

    def on_segment(seg: Segment) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, seg)

    def work() -> Transcript:
        try:
            return ctx.transcription.transcribe(audio, request, on_segment, cancel=cancel, label=label)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    task = asyncio.ensure_future(anyio.to_thread.run_sync(work))
    try:
        while (seg := await queue.get()) is not None:
            if not seg.text.strip():
                continue
            if request.diarize:  # OpenAI's diarized stream: a segment event, deltas tagged with it
                seg_id = f"seg_{seg.id + 1:03d}"
                yield sse_event({"type": "transcript.text.segment", "id": seg_id, "start": seg.start, "end": seg.end,
                                 "text": seg.text.strip(), "speaker": speaker_letter(seg.speaker)})
                yield sse_event({"type": "transcript.text.delta", "delta": seg.text, "segment_id": seg_id})
            else:
                yield sse_event({"type": "transcript.text.delta", "delta": seg.text})
        transcript = await task
        yield sse_event({"type": "transcript.text.done", "text": transcript.text,
                         "languages": languages(transcript), "usage": usage(transcript)})
    except Exception:
        ctx.gateway.mark_failed(http)  # an in-band error: neither stored for replay nor charged
        yield sse_event({"error": {"message": "transcription failed", "type": "server_error", "param": None,
                                   "code": "internal_error"}})
    finally:
        cancel.set()
        upload.discard()
    yield DONE


async def _decode(http: Request, ctx: AppContext, upload: Upload, request: TranscriptionRequest) -> PcmFile:
    """Hold credits for the most the upload may decode to (402), then decode no further than that hold covers."""
    service = ctx.transcription
    limit = ctx.settings.limits.max_audio_seconds
    covered = await ctx.gateway.hold_before_decoding(  # probes the header (400 if it lies) only to size a hold
        http, service.model(request), functools.partial(service.declared_seconds, upload.path), limit)
    try:
        return await anyio.to_thread.run_sync(service.load_audio, upload.path, covered)
    except APIError as exc:
        if exc.code == "audio_too_long" and covered < limit:
            raise APIError(402, f"insufficient credits: the audio is longer than the {covered:g} s this key's "
                                "credits cover", code="insufficient_credits") from None
        raise


async def _handle(http: Request, principal: Principal, task: Task) -> Response:
    ctx = get_ctx(http)
    upload = await read_upload(http, ctx.settings.tmp_dir, ctx.settings.limits.max_upload_bytes)
    try:
        await ctx.gateway.occupy(http)  # the key's concurrency slot, now that the upload is in (429)
        scoped_model = ctx.gateway.authorize_model(principal, upload.fields.text("model"),
                                                   "transcription")  # 403 for pipeline keys
        if scoped_model:
            upload.fields.values["model"] = [scoped_model]
        # Off the event loop: parsing decodes any speaker reference clips.
        request = await anyio.to_thread.run_sync(ctx.transcription.parse, upload.fields, task)
        call_of(http).access.model = request.model
        if upload.fields.flag("async"):  # queue a job: 202 now, charged when it succeeds (api/jobs.py)
            return await submit_job(http, principal, upload, request)
        audio = await _decode(http, ctx, upload, request)
        await ctx.gateway.reserve_credits(http, ctx.transcription.model(request),
                                          billable_seconds(audio.duration))  # 402
        if request.stream:
            stream = _stream(http, upload, request, audio)
            upload = None  # type: ignore[assignment]  # the stream owns and discards the file
            return StreamingResponse(stream, media_type="text/event-stream", headers={"cache-control": "no-cache"})
        transcript = await anyio.to_thread.run_sync(
            functools.partial(ctx.transcription.transcribe, audio, request, label=call_of(http).request_id))
        # Rendering an hour's transcript (and serialising it) is CPU work: off the event loop too.
        return await anyio.to_thread.run_sync(_rendered, ctx, transcript, request, ctx.gateway.credits_used(http))
    finally:
        if upload is not None:
            upload.discard()


@router.post("/v1/audio/transcriptions", openapi_extra=upload_body("transcribe"), responses=TRANSCRIPT_RESPONSES)
async def create_transcription(http: Request, principal: Principal = Depends(require_uploader)) -> Response:
    return await _handle(http, principal, "transcribe")


@router.post("/v1/audio/translations", openapi_extra=upload_body("translate"), responses=TRANSCRIPT_RESPONSES)
async def create_translation(http: Request, principal: Principal = Depends(require_uploader)) -> Response:
    return await _handle(http, principal, "translate")
