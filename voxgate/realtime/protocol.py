"""OpenAI's GA Realtime events for transcription sessions: client events parsed and checked, server events
built. Pure data, no I/O: the session decides what happens, this module only says what the wire carries.

A bad client event never ends a session: it becomes an `error` event naming the event and the parameter."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

FORMATS = {"audio/pcm": 24000, "audio/pcmu": 8000, "audio/pcma": 8000}  # the one rate each accepts
EAGERNESS_SILENCE_MS = {"low": 1200, "medium": 700, "auto": 700, "high": 350}  # semantic_vad, approximated


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


class RealtimeError(Exception):
    """An error for the client, sent as an `error` event (the session goes on)."""

    def __init__(self, message: str, *, code: str = "invalid_value", param: str | None = None,
                 type: str = "invalid_request_error", event_id: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.param, self.type, self.event_id = message, code, param, type, event_id

    def event(self) -> dict[str, Any]:
        return server_event("error", error={"type": self.type, "code": self.code, "message": self.message,
                                            "param": self.param, "event_id": self.event_id})


def server_event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": new_id("event"), **fields}


# -- the session's configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnDetection:
    """server_vad's knobs (semantic_vad arrives here as server_vad with a silence set by its eagerness)."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    kind: str = "server_vad"
    eagerness: str | None = None

    def wire(self) -> dict[str, Any]:
        if self.kind == "semantic_vad":
            return {"type": "semantic_vad", "eagerness": self.eagerness or "auto"}
        return {"type": "server_vad", "threshold": self.threshold, "prefix_padding_ms": self.prefix_padding_ms,
                "silence_duration_ms": self.silence_duration_ms, "idle_timeout_ms": None}


@dataclass(frozen=True)
class Transcription:
    model: str
    language: str | None = None
    languages: tuple[str, ...] = ()
    prompt: str | None = None
    keywords: tuple[str, ...] = ()

    def fields(self) -> dict[str, list[Any]]:
        """As transcription form fields, so the same checks (model, language, keywords) apply."""
        values: dict[str, list[Any]] = {"model": [self.model]}
        if self.language:
            values["language"] = [self.language]
        if self.languages:
            values["languages[]"] = list(self.languages)
        if self.prompt:
            values["prompt"] = [self.prompt]
        if self.keywords:
            values["keywords[]"] = list(self.keywords)
        return values

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "language": self.language, "prompt": self.prompt or ""}
        if self.languages:
            out["languages"] = list(self.languages)
        if self.keywords:
            out["keywords"] = list(self.keywords)
        return out


@dataclass(frozen=True)
class PipelineInfo:
    """What a conversation session shows of its pipeline (which sets its voice, instructions and models)."""

    id: str
    voice: str
    instructions: str


@dataclass(frozen=True)
class SessionConfig:
    id: str
    transcription: Transcription
    format: str = "audio/pcm"
    turn_detection: TurnDetection | None = field(default_factory=TurnDetection)
    expires_at: int = 0
    pipeline: PipelineInfo | None = None  # a conversation with a voice pipeline

    @property
    def rate(self) -> int:
        return FORMATS[self.format]

    def wire(self) -> dict[str, Any]:
        audio_in = {"format": {"type": self.format, "rate": self.rate}, "transcription": self.transcription.wire(),
                    "noise_reduction": None,
                    "turn_detection": self.turn_detection.wire() if self.turn_detection else None}
        if self.pipeline is not None:
            return {"type": "realtime", "object": "realtime.session", "id": self.id, "model": self.pipeline.id,
                    "expires_at": self.expires_at, "output_modalities": ["audio"],
                    "instructions": self.pipeline.instructions, "tools": [], "tool_choice": "none",
                    "audio": {"input": audio_in, "output": {"format": {"type": "audio/pcm", "rate": 24000},
                                                            "voice": self.pipeline.voice, "speed": 1.0}}}
        return {"type": "transcription", "object": "realtime.transcription_session", "id": self.id,
                "expires_at": self.expires_at, "include": None, "audio": {"input": audio_in}}


def new_session(model: str, max_session_s: float, language: str | None = None,
                pipeline: PipelineInfo | None = None) -> SessionConfig:
    return SessionConfig(id=new_id("sess"), transcription=Transcription(model=model, language=language),
                         expires_at=int(time.time() + max_session_s), pipeline=pipeline)


# -- session.update, checked ------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Format(_Strict):
    type: Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
    rate: int | None = None


class _Transcription(_Strict):
    model: str | None = None
    language: str | None = None
    languages: list[str] | None = None
    prompt: str | None = None
    keywords: list[str] | None = None
    delay: Literal["minimal", "low", "medium", "high", "xhigh"] | None = None


class _TurnDetection(_Strict):
    type: Literal["server_vad", "semantic_vad"]
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    prefix_padding_ms: int | None = Field(None, ge=0, le=5000)
    silence_duration_ms: int | None = Field(None, ge=100, le=10000)
    idle_timeout_ms: int | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None
    eagerness: Literal["low", "medium", "high", "auto"] | None = None


class _NoiseReduction(_Strict):
    type: Literal["near_field", "far_field"] | None = None
    strength: float | None = None


class _AudioInput(_Strict):
    format: _Format | None = None
    transcription: _Transcription | None = None
    turn_detection: _TurnDetection | None = None
    noise_reduction: _NoiseReduction | None = None


class _Audio(_Strict):
    input: _AudioInput | None = None


class _Session(_Strict):
    type: Literal["transcription"] | None = None
    audio: _Audio | None = None
    include: list[Literal["item.input_audio_transcription.logprobs"]] | None = None
    # the older flat shape, still sent by some clients: mapped onto audio.input
    input_audio_format: Literal["pcm16", "g711_ulaw", "g711_alaw"] | None = None
    input_audio_transcription: _Transcription | None = None
    id: str | None = None
    object: str | None = None
    expires_at: int | None = None


_FLAT_FORMATS = {"pcm16": "audio/pcm", "g711_ulaw": "audio/pcmu", "g711_alaw": "audio/pcma"}


# what a conversation's session.update may name but the pipeline decides
_PIPELINE_FIELDS = ("instructions", "output_modalities", "model", "tools", "tool_choice", "max_output_tokens",
                    "tracing", "truncation", "prompt", "voice")


def apply_update(config: SessionConfig, session: Any, event_id: str | None,
                 conversation: bool = False) -> SessionConfig:
    """The configuration after a `session.update` (the whole update or nothing); RealtimeError names the
    first parameter it cannot take. Model and language are checked by the caller (the catalog knows)."""
    if not isinstance(session, dict):
        raise RealtimeError("session.update needs a `session` object", param="session", event_id=event_id)
    if conversation:
        session = dict(session)
        if session.get("type") not in (None, "realtime"):
            raise RealtimeError("a pipeline session is of type \"realtime\"", param="session.type",
                                event_id=event_id)
        session.pop("type", None)
        audio = session.get("audio")
        named = [f"session.{k}" for k in _PIPELINE_FIELDS if session.get(k) is not None]
        if isinstance(audio, dict) and audio.get("output") is not None:
            named.append("session.audio.output")
        if named:
            raise RealtimeError(f"{named[0]} comes from the pipeline here; change the pipeline "
                                "(PATCH /v1/pipelines/{id}) instead", param=named[0], code="unsupported_value",
                                event_id=event_id)
        session = {k: v for k, v in session.items() if k not in _PIPELINE_FIELDS}
        if isinstance(audio, dict):
            session["audio"] = {k: v for k, v in audio.items() if k != "output"}
    try:
        update = _Session.model_validate(session)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in ("session", *first["loc"]))
        what = "unknown parameter" if first["type"] == "extra_forbidden" else first["msg"]
        raise RealtimeError(f"{where}: {what}", param=where, event_id=event_id,
                            code="unknown_parameter" if first["type"] == "extra_forbidden" else "invalid_value") \
            from None
    if update.include:
        raise RealtimeError("logprobs are not available from this server's Whisper models",
                            param="session.include", code="unsupported_value", event_id=event_id)
    audio_in = update.audio.input if update.audio and update.audio.input else _AudioInput()
    out = config
    fmt = audio_in.format.type if audio_in.format else _FLAT_FORMATS.get(update.input_audio_format or "")
    if fmt is not None:
        rate = audio_in.format.rate if audio_in.format else None
        if rate is not None and rate != FORMATS[fmt]:
            raise RealtimeError(f"{fmt} is taken at {FORMATS[fmt]} Hz only, not {rate}",
                                param="session.audio.input.format.rate", event_id=event_id)
        out = replace(out, format=fmt)
    if audio_in.noise_reduction is not None and audio_in.noise_reduction.type is not None:
        raise RealtimeError("noise_reduction is not available on this server; send null",
                            param="session.audio.input.noise_reduction", code="unsupported_value", event_id=event_id)
    asked = audio_in.transcription or update.input_audio_transcription
    if asked is not None:
        if asked.language and asked.languages:
            raise RealtimeError("send language or languages, not both",
                                param="session.audio.input.transcription.languages", event_id=event_id)
        if asked.delay is not None:
            raise RealtimeError("delay applies to gpt-realtime-whisper only; this server drafts every "
                                "VOXGATE_REALTIME_DRAFT_INTERVAL_S", param="session.audio.input.transcription.delay",
                                code="unsupported_value", event_id=event_id)
        old = out.transcription
        given = asked.model_fields_set
        out = replace(out, transcription=Transcription(
            model=asked.model or old.model,
            language=asked.language if "language" in given or "languages" in given else old.language,
            languages=tuple(asked.languages or ()) if "languages" in given or "language" in given else old.languages,
            prompt=asked.prompt if "prompt" in given else old.prompt,
            keywords=tuple(asked.keywords or ()) if "keywords" in given else old.keywords))
    if "turn_detection" in audio_in.model_fields_set:
        out = replace(out, turn_detection=_turn_detection(audio_in.turn_detection, out.turn_detection, event_id))
    return out


def _turn_detection(asked: _TurnDetection | None, old: TurnDetection | None,
                    event_id: str | None) -> TurnDetection | None:
    if asked is None:
        return None
    if asked.idle_timeout_ms is not None:
        raise RealtimeError("idle_timeout_ms prompts a model response; a transcription session has none",
                            param="session.audio.input.turn_detection.idle_timeout_ms", code="unsupported_value",
                            event_id=event_id)
    base = old or TurnDetection()
    if asked.type == "semantic_vad":
        eagerness = asked.eagerness or "auto"
        return TurnDetection(kind="semantic_vad", eagerness=eagerness,
                             silence_duration_ms=EAGERNESS_SILENCE_MS[eagerness])
    if asked.eagerness is not None:
        raise RealtimeError("eagerness belongs to semantic_vad", param="session.audio.input.turn_detection.eagerness",
                            event_id=event_id)
    base = base if base.kind == "server_vad" else TurnDetection()
    return TurnDetection(
        threshold=base.threshold if asked.threshold is None else asked.threshold,
        prefix_padding_ms=base.prefix_padding_ms if asked.prefix_padding_ms is None else asked.prefix_padding_ms,
        silence_duration_ms=base.silence_duration_ms if asked.silence_duration_ms is None
        else asked.silence_duration_ms)


# -- client events -----------------------------------------------------------------------------------------

CLIENT_EVENTS = ("session.update", "input_audio_buffer.append", "input_audio_buffer.commit",
                 "input_audio_buffer.clear")
CONVERSATION_EVENTS = (*CLIENT_EVENTS, "response.cancel", "response.create")


@dataclass(frozen=True)
class ClientEvent:
    type: str
    event_id: str | None
    body: dict[str, Any]


def parse_event(message: str | bytes, allowed: tuple[str, ...] = CLIENT_EVENTS) -> ClientEvent:
    """One WebSocket message as a client event of the session's kind; anything else is a RealtimeError."""
    try:
        data = json.loads(message)
    except (ValueError, UnicodeDecodeError):
        raise RealtimeError("the message is not JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise RealtimeError("an event is a JSON object", code="invalid_event")
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    kind = data.get("type")
    if not isinstance(kind, str):
        raise RealtimeError("the event has no `type`", code="invalid_event", param="type", event_id=event_id)
    if kind == "transcription_session.update":
        raise RealtimeError("transcription_session.update is the retired beta shape; send session.update with "
                            "session.type \"transcription\"", code="unknown_event", param="type", event_id=event_id)
    if kind not in allowed:
        what = "a pipeline" if allowed != CLIENT_EVENTS else "a transcription"
        raise RealtimeError(f"unknown event type {kind!r} for {what} session; expected one of "
                            f"{', '.join(allowed)}", code="unknown_event", param="type", event_id=event_id)
    return ClientEvent(kind, event_id, data)


def audio_of(event: ClientEvent) -> bytes:
    """The bytes of an `input_audio_buffer.append`."""
    audio = event.body.get("audio")
    if not isinstance(audio, str):
        raise RealtimeError("input_audio_buffer.append needs `audio`, base64 text", param="audio",
                            event_id=event.event_id)
    try:
        return base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise RealtimeError("`audio` is not valid base64", param="audio", code="invalid_base64",
                            event_id=event.event_id) from None
