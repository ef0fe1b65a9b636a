"""Voice pipelines as admins manage them (create, read, change, delete) and the conversation history each
key keeps with one: validated here, stored behind `PipelineStore`."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import Any

from voxgate.errors import APIError, bad_request
from voxgate.gateway.auth import Principal
from voxgate.models.catalog import Catalog
from voxgate.store.interfaces import Pipeline, PipelineExists, PipelineStore

PIPELINE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
DEFAULT_PROMPT = ("You are a helpful voice assistant. Your words are spoken aloud, so answer in one to three short "
                  "sentences of plain speech: no lists, no code, no markdown.")
DEFAULT_VOICE = "alloy"
DEFAULT_REPLY_TOKENS = 120
MAX_PROMPT_CHARS = 8000
_TASKS = {"stt_model": "transcription", "llm_model": "chat", "tts_model": "speech"}
FIELDS = frozenset({"id", "stt_model", "llm_model", "tts_model", "voice", "system_prompt", "language",
                    "max_reply_tokens", "temperature"})
DEFAULT_TEMPERATURE = 0.7


class PipelineLibrary:
    def __init__(self, store: PipelineStore, catalog: Catalog, check: Callable[[Pipeline], None],
                 max_reply_tokens: int, max_history: int) -> None:
        self.store = store
        self.catalog = catalog
        self.check = check  # the engines' own checks: the voice on the TTS model, the language
        self.max_reply_tokens = max_reply_tokens
        self.max_history = max_history  # messages a conversation keeps (its oldest turns drop first)

    def _validated(self, pipeline: Pipeline) -> Pipeline:
        for name, task in _TASKS.items():
            try:
                spec = self.catalog.require(getattr(pipeline, name), task)
            except APIError as exc:
                raise APIError(exc.status, exc.message, code=exc.code, param=name) from None
            changes: dict[str, Any] = {name: spec.id}
            pipeline = dataclasses.replace(pipeline, **changes)
        if not isinstance(pipeline.system_prompt, str) or len(pipeline.system_prompt) > MAX_PROMPT_CHARS:
            raise bad_request(f"'system_prompt' must be a string of at most {MAX_PROMPT_CHARS} characters",
                              param="system_prompt")
        if not isinstance(pipeline.voice, str) or not pipeline.voice:
            raise bad_request("'voice' must be a voice name", param="voice")
        if pipeline.language is not None and not isinstance(pipeline.language, str):
            raise bad_request("'language' must be a language code", param="language")
        tokens = pipeline.max_reply_tokens
        if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= self.max_reply_tokens:
            raise bad_request(f"'max_reply_tokens' must be an integer from 1 to {self.max_reply_tokens}",
                              param="max_reply_tokens")
        temperature = pipeline.temperature
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
            raise bad_request("'temperature' must be a number from 0 to 2", param="temperature")
        self.check(pipeline)
        return dataclasses.replace(pipeline, temperature=float(temperature))

    @staticmethod
    def _unknown(body: dict[str, Any]) -> None:
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            raise bad_request(f"unknown pipeline field {unknown[0]!r}; the fields are {', '.join(sorted(FIELDS))}",
                              param=unknown[0], code="unknown_parameter")

    def create(self, body: dict[str, Any]) -> Pipeline:
        """A new pipeline from `body`; every field but `id` has a default (blocking: the store)."""
        self._unknown(body)
        pipeline_id = body.get("id")
        if not isinstance(pipeline_id, str) or not PIPELINE_ID.match(pipeline_id):
            raise bad_request("'id' must be 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit",
                              param="id")
        if self.catalog.resolve(pipeline_id) is not None:  # a key's scope names either; they must not collide
            raise bad_request(f"{pipeline_id!r} is a model id; choose another pipeline id", param="id")
        now = time.time()
        pipeline = Pipeline(
            id=pipeline_id,
            stt_model=body.get("stt_model") or self.catalog.default("transcription").id,
            llm_model=body.get("llm_model") or self.catalog.default("chat").id,
            tts_model=body.get("tts_model") or self.catalog.default("speech").id,
            voice=body.get("voice") or DEFAULT_VOICE,
            system_prompt=DEFAULT_PROMPT if body.get("system_prompt") is None else body["system_prompt"],
            language=body.get("language"),
            max_reply_tokens=DEFAULT_REPLY_TOKENS if body.get("max_reply_tokens") is None
            else body["max_reply_tokens"],
            temperature=DEFAULT_TEMPERATURE if body.get("temperature") is None else body["temperature"],
            created_at=now, updated_at=now)
        pipeline = self._validated(pipeline)
        try:
            self.store.create(pipeline)
        except PipelineExists:
            raise APIError(409, f"pipeline {pipeline_id!r} exists; PATCH /v1/pipelines/{pipeline_id} changes it",
                           code="pipeline_exists", param="id") from None
        return pipeline

    def get(self, pipeline_id: str) -> Pipeline:
        pipeline = self.store.get(pipeline_id)
        if pipeline is None:
            raise APIError(404, f"pipeline {pipeline_id!r} does not exist", code="pipeline_not_found")
        return pipeline

    def list_all(self) -> list[Pipeline]:
        return self.store.list_all()

    def update(self, pipeline_id: str, changes: dict[str, Any]) -> Pipeline:
        self._unknown(changes)
        if "id" in changes and changes["id"] != pipeline_id:
            raise bad_request("a pipeline's id cannot change", param="id")
        current = self.get(pipeline_id)
        fields = {k: v for k, v in changes.items() if k != "id"}
        for name in ("max_reply_tokens", "temperature"):
            if fields.get(name) is None:
                fields.pop(name, None)
        pipeline = self._validated(dataclasses.replace(current, **fields, updated_at=time.time()))
        self.store.update(pipeline)
        return pipeline

    def delete(self, pipeline_id: str) -> None:
        if not self.store.delete(pipeline_id):
            raise APIError(404, f"pipeline {pipeline_id!r} does not exist", code="pipeline_not_found")

    # -- who may run it, and what it remembers ------------------------------------------------------------

    def for_caller(self, principal: Principal, pipeline_id: str) -> Pipeline:
        """The pipeline `principal` may run: a pipeline-scoped key runs its own and no other (403)."""
        if principal.pipeline is not None and principal.pipeline != pipeline_id:
            raise APIError(403, f"this API key is scoped to {principal.pipeline!r} and cannot run pipeline "
                                f"{pipeline_id!r}", code="forbidden")
        return self.get(pipeline_id)

    @staticmethod
    def conversation_id(value: Any) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str) or not CONVERSATION_ID.match(value):
            raise bad_request("'conversation_id' must be 1-128 letters, digits or '_.:-'", param="conversation_id")
        return value

    def history(self, principal: Principal, conversation_id: str) -> list[dict[str, str]]:
        return self.store.history(principal.key_id, conversation_id)

    def remember(self, principal: Principal, conversation_id: str, pipeline: Pipeline,
                 history: list[dict[str, str]], user: str, reply: str) -> None:
        messages = [*history, {"role": "user", "content": user}, {"role": "assistant", "content": reply}]
        self.store.save_history(principal.key_id, conversation_id, pipeline.id, messages[-self.max_history:])
