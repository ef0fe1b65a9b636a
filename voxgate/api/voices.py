"""/v1/audio/voices: the voice list (bundled and custom), and custom voices in OpenAI's shape, made by voice
matching (voxgate.voicematch): a blend of bundled voices chosen to sound like the uploaded sample."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from voxgate.api.context import AppContext, get_ctx, require_key
from voxgate.api.uploads import parse_json_object
from voxgate.errors import APIError, bad_request
from voxgate.gateway.auth import Principal
from voxgate.models.catalog import ModelSpec
from voxgate.transcription.fields import decode_base64
from voxgate.tts.kokoro import voice_gender, voice_language
from voxgate.tts.voices import parse_blend
from voxgate.voicematch import MatchBusy, SampleError, load_reference

router = APIRouter(dependencies=[Depends(require_key)])
MAX_NAME = 128
MAX_CONSENT = 2048


@dataclass(frozen=True)
class Matched:
    """A reference clip's voice on the matching model: the blend expression and how close it came."""

    spec: ModelSpec
    voice: str
    similarity: float
    sample_sha256: str
    cached: bool


def match_model(ctx: AppContext, principal: Principal) -> ModelSpec:
    """The speech model custom voices blend (VOXGATE_VOICE_MODEL), if this key may use it."""
    name = ctx.settings.voices.model
    ctx.gateway.authorize_model(principal, name, "speech")
    return ctx.catalog.require(name, "speech")


def match_sample(ctx: AppContext, spec: ModelSpec, data: bytes, param: str) -> Matched:
    """Decode, check and match a reference clip, or reuse the match of the same bytes (blocking)."""
    limits = ctx.settings.voices
    if len(data) > limits.max_sample_bytes:
        raise APIError(413, f"'{param}' exceeds the {limits.max_sample_bytes // (1024 * 1024)} MB limit",
                       code="file_too_large", param=param)
    try:
        reference = load_reference(data, limits.min_sample_s, limits.max_sample_s)
    except SampleError as exc:
        raise bad_request(f"'{param}' cannot be used as a voice sample: {exc}", param=param,
                          code="invalid_audio_sample") from None
    cached = ctx.voices.cached_match(reference.sha256, spec.id)
    if cached is not None:
        return Matched(spec, cached.voice, cached.similarity, reference.sha256, True)
    try:
        match = ctx.matcher.match(spec, reference.audio, 16000)
    except MatchBusy:
        raise APIError(429, "too many voice matches are waiting on this server; retry shortly",
                       code="voice_match_busy", headers={"Retry-After": "10"}) from None
    ctx.voices.remember_match(reference.sha256, spec.id, match.voice, match.similarity, {
        "default_voice": match.default_voice, "default_similarity": match.default_similarity,
        "best_single": match.best_single, "best_single_similarity": match.best_single_similarity,
        "tried": match.tried})
    return Matched(spec, match.voice, match.similarity, reference.sha256, False)


def _traits(voice: str) -> tuple[str, str | None]:
    lead = parse_blend(voice).lead
    return voice_language(lead)[1], voice_gender(lead)


@router.get("/v1/audio/voices")
async def list_voices(request: Request, model: str | None = None,
                      principal: Principal = Depends(require_key)) -> dict[str, Any]:
    """Every voice of every speech model (`?model=` for one), then the caller's custom voices: native ids work
    as `voice` on their model, custom ones as `{"id": ...}`."""
    ctx = get_ctx(request)
    bundled = ctx.speech.voices(model)
    spec = ctx.catalog.require(model, "speech") if model else None
    custom = await anyio.to_thread.run_sync(ctx.voices.list, principal)
    mine = [v.public() for v in custom if spec is None or v.model == spec.id]
    return {"object": "list", "data": bundled + mine}


@router.get("/v1/audio/voices/{voice_id}")
async def get_voice(voice_id: str, request: Request, principal: Principal = Depends(require_key)) -> dict[str, Any]:
    voice = await anyio.to_thread.run_sync(get_ctx(request).voices.get, principal, voice_id)
    return voice.public()


@router.delete("/v1/audio/voices/{voice_id}")
async def delete_voice(voice_id: str, request: Request,
                       principal: Principal = Depends(require_key)) -> dict[str, Any]:
    await anyio.to_thread.run_sync(get_ctx(request).voices.delete, principal, voice_id)
    return {"id": voice_id, "object": "audio.voice.deleted", "deleted": True}


async def _voice_form(request: Request, limit: int) -> tuple[dict[str, str], bytes | None]:
    """The fields and the `audio_sample` bytes of a multipart or JSON (base64 sample) body."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("application/json"):
        raw = await request.body()  # bounded by the intake middleware
        body = await anyio.to_thread.run_sync(parse_json_object, raw)  # up to 14 MB: off the event loop
        fields = {k: v for k, v in body.items() if isinstance(v, str) and k != "audio_sample"}
        sample = body.get("audio_sample")
        if sample is not None and not isinstance(sample, str):
            raise bad_request("'audio_sample' must be base64 audio or a data URL", param="audio_sample")
        data = await anyio.to_thread.run_sync(decode_base64, sample, "audio_sample") if sample else None
        return fields, data
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise APIError(415, "send multipart/form-data with 'name', 'consent' and an 'audio_sample' file part "
                       "(or JSON with a base64 'audio_sample')", code="unsupported_media_type")
    try:
        form = await request.form(max_files=1, max_fields=20, max_part_size=64 * 1024)
    except (MultiPartException, HTTPException) as exc:
        detail = exc.message if isinstance(exc, MultiPartException) else exc.detail
        raise bad_request(f"malformed multipart body: {detail}", code="invalid_multipart") from None
    try:
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        upload = form.get("audio_sample")
        data = None
        if isinstance(upload, UploadFile):
            data = await upload.read(limit + 1)
        elif isinstance(upload, str) and upload:
            data = decode_base64(upload, "audio_sample")
        return fields, data
    finally:
        await form.close()


@router.post("/v1/audio/voices")
async def create_voice(request: Request, principal: Principal = Depends(require_key)) -> dict[str, Any]:
    """Make a custom voice from an audio sample of 3-30 s: the blend of bundled voices that sounds most like it."""
    ctx = get_ctx(request)
    fields, data = await _voice_form(request, ctx.settings.voices.max_sample_bytes)
    kind = fields.get("type", "audio_sample")
    if kind != "audio_sample":
        raise bad_request(f"voice type {kind!r} is not supported here; send type 'audio_sample' with a sample of "
                          "the voice", param="type", code="unsupported_voice_type")
    name = fields.get("name", "").strip()
    consent = fields.get("consent", "").strip()
    if not name or len(name) > MAX_NAME:
        raise bad_request(f"'name' is required (1 to {MAX_NAME} characters)", param="name",
                          code="missing_name" if not name else "invalid_value")
    if not consent or len(consent) > MAX_CONSENT:
        raise bad_request("'consent' is required: the id of the speaker's consent recording, or a statement that "
                          f"the speaker agreed to this voice (at most {MAX_CONSENT} characters)", param="consent",
                          code="missing_consent" if not consent else "invalid_value")
    if not data:
        raise bad_request("'audio_sample' is required: attach 3 to 30 s of the speaker", param="audio_sample",
                          code="missing_file")
    spec = match_model(ctx, principal)
    matched = await anyio.to_thread.run_sync(match_sample, ctx, spec, data, "audio_sample")
    language, gender = _traits(matched.voice)
    voice = await anyio.to_thread.run_sync(lambda: ctx.voices.add(
        principal, name=name, consent=consent, model=spec.id, voice=matched.voice, language=language, gender=gender,
        similarity=matched.similarity, sample_sha256=matched.sample_sha256))
    return voice.public()
