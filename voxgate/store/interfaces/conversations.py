"""Stored voice pipelines, their conversation histories, and the Responses API's kept responses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Pipeline:
    """A stored voice pipeline: the three models of a spoken turn (STT -> LLM -> TTS) and how to answer."""

    id: str
    stt_model: str
    llm_model: str
    tts_model: str
    voice: str
    system_prompt: str
    language: str | None
    max_reply_tokens: int
    created_at: float
    updated_at: float
    temperature: float = 0.7  # the LLM's sampling temperature (0: the same question, the same answer)

    def models(self) -> tuple[str, str, str]:
        return (self.stt_model, self.llm_model, self.tts_model)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "object": "pipeline", "stt_model": self.stt_model, "llm_model": self.llm_model,
                "tts_model": self.tts_model, "voice": self.voice, "system_prompt": self.system_prompt,
                "language": self.language, "max_reply_tokens": self.max_reply_tokens,
                "temperature": self.temperature, "created_at": int(self.created_at), "updated_at": int(self.updated_at)}


class PipelineExists(Exception):
    """A pipeline with this id is already stored."""


class PipelineStore(Protocol):
    """Pipelines (shared by every key) and the conversation history of each key. Calls block."""

    def create(self, pipeline: Pipeline) -> None: ...  # raises PipelineExists

    def get(self, pipeline_id: str) -> Pipeline | None: ...

    def list_all(self) -> list[Pipeline]: ...

    def update(self, pipeline: Pipeline) -> None: ...

    def delete(self, pipeline_id: str) -> bool: ...

    def history(self, key_id: str, conversation_id: str) -> list[dict[str, str]]: ...

    def save_history(self, key_id: str, conversation_id: str, pipeline_id: str,
                     messages: list[dict[str, str]]) -> None: ...


@dataclass(frozen=True)
class StoredConversation:
    """A Responses API response kept so `previous_response_id` can continue from it: the messages so far."""

    id: str
    key_id: str
    messages: list[dict[str, str]]
    created_at: float


class ResponseStore(Protocol):
    """Responses of each key, by id, for `previous_response_id`. Calls block."""

    def save(self, record: StoredConversation) -> None: ...

    def get(self, key_id: str, response_id: str) -> StoredConversation | None: ...

    def purge(self, older_than: float) -> int: ...
