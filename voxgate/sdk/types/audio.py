"""Audio results with the attribute names of the openai SDK's types: transcriptions (plain, verbose, diarized),
translations, their stream events, models and voices."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Union

from voxgate.sdk.types._base import BaseType, UsageDuration, UsageTokens, list_of, usage_of


@dataclass
class TranscriptionWord(BaseType):
    word: str
    start: float
    end: float
    speaker: str | None = None


@dataclass
class TranscriptionSegment(BaseType):
    id: int
    start: float
    end: float
    text: str
    seek: int = 0
    tokens: list[int] = field(default_factory=list)
    temperature: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 0.0
    no_speech_prob: float = 0.0
    speaker: str | None = None


@dataclass
class Transcription(BaseType):
    """response_format="json"."""

    text: str
    usage: UsageDuration | UsageTokens | None = None
    logprobs: list[dict[str, Any]] | None = None
    languages: list[dict[str, str]] | None = None  # [{"code": "en"}]: the language the audio was heard in

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"usage": usage_of(data.get("usage"))}


@dataclass
class TranscriptionVerbose(BaseType):
    """response_format="verbose_json": `language` is the English name ("english"), not the code."""

    duration: float
    language: str
    text: str
    segments: list[TranscriptionSegment] | None = None
    words: list[TranscriptionWord] | None = None
    usage: UsageDuration | None = None
    languages: list[dict[str, str]] | None = None

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        usage = usage_of(data.get("usage"))
        return {"segments": list_of(TranscriptionSegment, data.get("segments")),
                "words": list_of(TranscriptionWord, data.get("words")),
                "usage": usage if isinstance(usage, UsageDuration) else None}


@dataclass
class TranscriptionDiarizedSegment(BaseType):
    id: str
    start: float
    end: float
    text: str
    speaker: str
    type: Literal["transcript.text.segment"] = "transcript.text.segment"


@dataclass
class TranscriptionDiarized(BaseType):
    """response_format="diarized_json": segments carry `speaker` (A, B, ... or a known speaker name)."""

    duration: float
    segments: list[TranscriptionDiarizedSegment]
    text: str
    task: Literal["transcribe"] = "transcribe"
    usage: UsageDuration | UsageTokens | None = None

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"segments": list_of(TranscriptionDiarizedSegment, data.get("segments")) or [],
                "usage": usage_of(data.get("usage"))}


@dataclass
class Translation(BaseType):
    text: str


@dataclass
class TranslationVerbose(BaseType):
    duration: float
    language: str
    text: str
    segments: list[TranscriptionSegment] | None = None

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"segments": list_of(TranscriptionSegment, data.get("segments"))}


@dataclass
class TranscriptionTextDeltaEvent(BaseType):
    delta: str
    type: Literal["transcript.text.delta"] = "transcript.text.delta"
    logprobs: list[dict[str, Any]] | None = None
    segment_id: str | None = None


@dataclass
class TranscriptionTextSegmentEvent(BaseType):
    id: str
    start: float
    end: float
    text: str
    speaker: str
    type: Literal["transcript.text.segment"] = "transcript.text.segment"


@dataclass
class TranscriptionTextDoneEvent(BaseType):
    text: str
    type: Literal["transcript.text.done"] = "transcript.text.done"
    logprobs: list[dict[str, Any]] | None = None
    usage: UsageDuration | UsageTokens | None = None

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"usage": usage_of(data.get("usage"))}


TranscriptionStreamEvent = Union[TranscriptionTextDeltaEvent, TranscriptionTextSegmentEvent, TranscriptionTextDoneEvent]


@dataclass
class Model(BaseType):
    id: str
    created: int = 0
    object: Literal["model"] = "model"
    owned_by: str = ""


@dataclass
class Voice(BaseType):
    """A voice (`object: "audio.voice"`): a bundled one of a speech model, or a custom one made from a sample
    (then `created_at`, `type`, `matched_voice` and `similarity` are set)."""

    id: str
    object: Literal["audio.voice"] = "audio.voice"
    name: str = ""
    model: str | None = None
    language: str | None = None
    gender: str | None = None
    created_at: int | None = None
    type: str | None = None
    matched_voice: str | None = None
    similarity: float | None = None


@dataclass
class VoiceDeleted(BaseType):
    id: str
    deleted: bool
    object: Literal["audio.voice.deleted"] = "audio.voice.deleted"
