"""Result objects with the attribute names of the openai SDK's audio types, plus voxgate's jobs and
webhook deliveries. Plain dataclasses: `to_dict()` returns the JSON the server sent, and every object
carries the `request_id` of the response it came from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any, Generic, Literal, TypeVar, Union

__all__ = [
    "UsageDuration",
    "UsageTokens",
    "Transcription",
    "TranscriptionVerbose",
    "Voice",
    "VoiceDeleted",
    "TranscriptionSegment",
    "TranscriptionWord",
    "TranscriptionDiarized",
    "TranscriptionDiarizedSegment",
    "Translation",
    "TranslationVerbose",
    "TranscriptionTextDeltaEvent",
    "TranscriptionTextSegmentEvent",
    "TranscriptionTextDoneEvent",
    "TranscriptionStreamEvent",
    "Text",
    "Model",
    "Page",
    "Job",
    "JobError",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookSecret",
    "WebhookDefault",
    "ChatMessage",
    "ChatChoice",
    "ChatChunkChoice",
    "ChatDelta",
    "CompletionUsage",
    "ChatCompletion",
    "ChatCompletionChunk",
    "PipelineTranscriptEvent",
    "PipelineReplyDeltaEvent",
    "PipelineAudioDeltaEvent",
    "PipelineDoneEvent",
    "PipelineEvent",
    "PipelineRun",
    "Embedding",
    "CreateEmbeddingResponse",
    "Response",
    "ResponseEvent",
]

T = TypeVar("T")
M = TypeVar("M", bound="BaseType")


@dataclass
class BaseType:
    """Shared behaviour: build from a JSON dict (unknown keys kept in `to_dict()`, not as attributes)."""

    request_id: str | None = field(default=None, kw_only=True, repr=False, compare=False)
    _raw: dict[str, Any] = field(default_factory=dict, kw_only=True, repr=False, compare=False)

    @classmethod
    def from_dict(cls: type[M], data: dict[str, Any], request_id: str | None = None) -> M:
        names = {f.name for f in fields(cls) if f.init and not f.name.startswith("_") and f.name != "request_id"}
        values = {k: v for k, v in data.items() if k in names}
        values.update(cls._convert(data))
        return cls(**values, request_id=request_id, _raw=data)

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Subclasses turn nested dicts into typed objects here."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        return dict(self._raw)


def _usage(value: Any) -> UsageDuration | UsageTokens | None:
    if not isinstance(value, dict):
        return None
    if value.get("type") == "tokens":
        return UsageTokens.from_dict(value)
    return UsageDuration.from_dict(value)


def _list(cls: type[M], value: Any) -> list[M] | None:
    if value is None:
        return None
    return [cls.from_dict(item) for item in value]


@dataclass
class UsageDuration(BaseType):
    """Audio-billed usage: whole seconds of input audio."""

    seconds: float = 0
    type: Literal["duration"] = "duration"


@dataclass
class UsageTokens(BaseType):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    type: Literal["tokens"] = "tokens"


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
        return {"usage": _usage(data.get("usage"))}


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
        usage = _usage(data.get("usage"))
        return {"segments": _list(TranscriptionSegment, data.get("segments")),
                "words": _list(TranscriptionWord, data.get("words")),
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
        return {"segments": _list(TranscriptionDiarizedSegment, data.get("segments")) or [],
                "usage": _usage(data.get("usage"))}


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
        return {"segments": _list(TranscriptionSegment, data.get("segments"))}


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
        return {"usage": _usage(data.get("usage"))}


TranscriptionStreamEvent = Union[TranscriptionTextDeltaEvent, TranscriptionTextSegmentEvent, TranscriptionTextDoneEvent]


class Text(str):
    """A text/srt/vtt result: an ordinary `str` that also knows its `request_id`."""

    request_id: str | None

    def __new__(cls, value: str, request_id: str | None = None) -> Text:
        obj = super().__new__(cls, value)
        obj.request_id = request_id
        return obj


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


@dataclass
class Page(Generic[T]):
    """A list response (`{"object": "list", "data": [...]}`); iterate it like the list it holds."""

    data: list[T]
    object: str = "list"
    has_more: bool = False
    request_id: str | None = field(default=None, repr=False, compare=False)

    def __iter__(self) -> Iterator[T]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> T:
        return self.data[index]


@dataclass
class JobError(BaseType):
    message: str
    type: str | None = None
    code: str | None = None


JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


@dataclass
class Job(BaseType):
    """An async transcription job (`object: "transcription.job"`)."""

    id: str
    status: JobStatus
    created_at: int
    object: Literal["transcription.job"] = "transcription.job"
    model: str | None = None
    task: str = "transcribe"
    progress: float = 0.0
    response_format: str = "json"
    started_at: int | None = None
    completed_at: int | None = None
    webhook_url: str | None = None
    usage: UsageDuration | None = None
    error: JobError | None = None
    result_url: str | None = None
    attempts: int = 0

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        usage = _usage(data.get("usage"))
        error = data.get("error")
        return {"usage": usage if isinstance(usage, UsageDuration) else None,
                "error": JobError.from_dict(error) if isinstance(error, dict) else None}

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")


@dataclass
class WebhookDeliveryAttempt(BaseType):
    attempt: int
    at: float
    status_code: int | None = None
    error: str | None = None
    duration_ms: float | None = None


@dataclass
class WebhookDelivery(BaseType):
    """One event sent (or being sent) to one URL, with every attempt logged."""

    id: str
    event_id: str
    event_type: str
    url: str
    status: Literal["pending", "succeeded", "failed"]
    created_at: float
    object: Literal["webhook.delivery"] = "webhook.delivery"
    job_id: str | None = None
    attempts: int = 0
    max_attempts: int = 0
    next_attempt_at: float | None = None
    delivered_at: float | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    resend_of: str | None = None
    attempt_log: list[WebhookDeliveryAttempt] = field(default_factory=list)

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"attempt_log": _list(WebhookDeliveryAttempt, data.get("attempt_log")) or []}


@dataclass
class WebhookSecret(BaseType):
    """This key's signing secret; `workspace_secret` (admin keys only) signs every key's events."""

    secret: str
    object: Literal["webhook.secret"] = "webhook.secret"
    header: str = "voxgate-signature"
    scope: str = "key"
    previous_valid_until: int | None = None
    workspace_secret: str | None = None


@dataclass
class WebhookDefault(BaseType):
    url: str | None
    object: Literal["webhook.default"] = "webhook.default"


# ---- chat completions (the openai SDK's names) ---------------------------------------------------------------


@dataclass
class CompletionUsage(BaseType):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass
class ChatMessage(BaseType):
    role: str = "assistant"
    content: str | None = None


@dataclass
class ChatChoice(BaseType):
    index: int = 0
    message: ChatMessage = field(default_factory=ChatMessage)
    finish_reason: str | None = None

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"message": ChatMessage.from_dict(data.get("message") or {})}


@dataclass
class ChatCompletion(BaseType):
    id: str
    model: str
    choices: list[ChatChoice] = field(default_factory=list)
    created: int = 0
    object: Literal["chat.completion"] = "chat.completion"
    usage: CompletionUsage | None = None

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        usage = data.get("usage")
        return {"choices": _list(ChatChoice, data.get("choices")) or [],
                "usage": CompletionUsage.from_dict(usage) if isinstance(usage, dict) else None}


@dataclass
class ChatDelta(BaseType):
    role: str | None = None
    content: str | None = None


@dataclass
class ChatChunkChoice(BaseType):
    index: int = 0
    delta: ChatDelta = field(default_factory=ChatDelta)
    finish_reason: str | None = None

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {"delta": ChatDelta.from_dict(data.get("delta") or {})}


@dataclass
class ChatCompletionChunk(BaseType):
    id: str
    model: str
    choices: list[ChatChunkChoice] = field(default_factory=list)
    created: int = 0
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    usage: CompletionUsage | None = None

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        usage = data.get("usage")
        return {"choices": _list(ChatChunkChoice, data.get("choices")) or [],
                "usage": CompletionUsage.from_dict(usage) if isinstance(usage, dict) else None}


# ---- voice pipelines -----------------------------------------------------------------------------------------


@dataclass
class PipelineTranscriptEvent(BaseType):
    """What the user said, as soon as it is known."""

    text: str
    language: str | None = None
    type: Literal["pipeline.transcript"] = "pipeline.transcript"


@dataclass
class PipelineReplyDeltaEvent(BaseType):
    delta: str
    type: Literal["pipeline.reply.delta"] = "pipeline.reply.delta"


@dataclass
class PipelineAudioDeltaEvent(BaseType):
    """A piece of the spoken reply: `audio` is base64 of `format` bytes (raw 16-bit mono for pcm)."""

    audio: str
    format: str = "pcm"
    sample_rate: int = 24000
    type: Literal["pipeline.audio.delta"] = "pipeline.audio.delta"

    @property
    def data(self) -> bytes:
        import base64

        return base64.b64decode(self.audio)


@dataclass
class PipelineDoneEvent(BaseType):
    transcript: str
    reply: str
    conversation_id: str = ""
    language: str | None = None
    truncated: bool = False
    usage: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, int] = field(default_factory=dict)
    credits_used: float | None = None
    type: Literal["pipeline.done"] = "pipeline.done"


PipelineEvent = Union[PipelineTranscriptEvent, PipelineReplyDeltaEvent, PipelineAudioDeltaEvent, PipelineDoneEvent,
                      dict[str, Any]]


@dataclass
class PipelineRun(BaseType):
    """A whole turn (`stream=False`): what was heard, the reply, and its audio (`audio_bytes`)."""

    transcript: str
    reply: str
    audio: str = ""
    format: str = "pcm"
    sample_rate: int = 24000
    conversation_id: str = ""
    language: str | None = None
    truncated: bool = False
    usage: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, int] = field(default_factory=dict)
    object: Literal["pipeline.run"] = "pipeline.run"

    @property
    def audio_bytes(self) -> bytes:
        import base64

        return base64.b64decode(self.audio)


# ---- embeddings -------------------------------------------------------------------------------------------------


@dataclass
class Embedding(BaseType):
    embedding: list[float]
    index: int = 0
    object: Literal["embedding"] = "embedding"

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        value = data.get("embedding")
        if isinstance(value, str):  # encoding_format="base64": little-endian float32
            import base64
            import struct

            raw = base64.b64decode(value)
            return {"embedding": list(struct.unpack(f"<{len(raw) // 4}f", raw))}
        return {}


@dataclass
class CreateEmbeddingResponse(BaseType):
    data: list[Embedding]
    model: str
    object: Literal["list"] = "list"
    usage: CompletionUsage | None = None

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        usage = data.get("usage")
        return {"data": _list(Embedding, data.get("data")) or [],
                "usage": CompletionUsage.from_dict(usage) if isinstance(usage, dict) else None}


# ---- the Responses API ------------------------------------------------------------------------------------------


@dataclass
class Response(BaseType):
    """A `response` object; `output_text` joins its output text, as the openai SDK's property does."""

    id: str
    model: str
    status: str = "completed"
    object: Literal["response"] = "response"
    created_at: int = 0
    output: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    previous_response_id: str | None = None
    incomplete_details: dict[str, Any] | None = None

    @property
    def output_text(self) -> str:
        return "".join(part.get("text", "") for item in self.output if item.get("type") == "message"
                       for part in item.get("content") or [] if part.get("type") == "output_text")


@dataclass
class ResponseEvent(BaseType):
    """One event of a streamed response (`response.output_text.delta`, `response.completed`, ...): `delta` is
    set on deltas, `response` on the created / completed ones; `to_dict()` has every field."""

    type: str
    sequence_number: int = 0
    delta: str | None = None
    response: Response | None = None

    @classmethod
    def _convert(cls, data: dict[str, Any]) -> dict[str, Any]:
        found = data.get("response")
        return {"response": Response.from_dict(found) if isinstance(found, dict) else None}
