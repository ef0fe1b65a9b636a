"""Chat completions (the openai SDK's names), voice-pipeline events and runs, embeddings and the Responses
API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Union

from voxgate.sdk.types._base import BaseType, list_of

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
        return {"choices": list_of(ChatChoice, data.get("choices")) or [],
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
        return {"choices": list_of(ChatChunkChoice, data.get("choices")) or [],
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
        return {"data": list_of(Embedding, data.get("data")) or [],
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
