"""The chat use case, free of HTTP: resolve the model, check the request against its engine, and run it.
Shared by POST /v1/chat/completions and the voice pipelines."""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

import anyio

from voxgate.config import LlmSettings
from voxgate.llm.embedded import LlamaCppEngine
from voxgate.llm.engine import ChatEngine
from voxgate.llm.request import ChatLimits, ChatTurn, parse_turn
from voxgate.llm.upstream import UpstreamEngine
from voxgate.models.catalog import Catalog, ModelSpec
from voxgate.models.registry import ModelRegistry
from voxgate.models.stats import InferenceCounter


class ChatService:
    def __init__(self, catalog: Catalog, registry: ModelRegistry, settings: LlmSettings, cpu_threads: int,
                 secret: Callable[[str], str | None]) -> None:
        self.catalog = catalog
        self.registry = registry
        self.settings = settings
        self.cpu_threads = cpu_threads
        self.secret = secret  # reads an upstream's key by the name its catalog entry gives
        self.limits = ChatLimits(max_tokens=settings.max_tokens, max_messages=settings.max_messages,
                                 context=settings.context)
        self.inferences = InferenceCounter()  # completions per model (GET /v1/admin/stats)

    def _upstream(self, spec: ModelSpec, _path: Path) -> UpstreamEngine:
        env = spec.options.get("api_key_env")
        key: Callable[[], str | None] = (lambda: self.secret(str(env))) if env else (lambda: None)
        return UpstreamEngine(spec, key, self.settings.timeout_s, self.settings.connect_timeout_s,
                              self.settings.max_upstream_bytes)

    def engine(self, spec: ModelSpec) -> ChatEngine:
        """The shared engine of `spec`, loaded on first use (blocking: call off-loop)."""
        if spec.remote:
            return self.registry.get(spec, self._upstream)
        return self.registry.get(spec, functools.partial(
            LlamaCppEngine.load, cpu_threads=self.cpu_threads, parallel=self.settings.parallel,
            context=self.settings.context, max_tokens=self.settings.max_tokens,
            max_waiting=self.settings.max_waiting))

    def prepare(self, model: str | None, body: dict[str, Any]) -> ChatTurn:
        """Check `body` for its model (APIError naming the field) before any credit is held."""
        spec = self.catalog.require(model, "chat")
        return parse_turn(spec, body, self.limits)

    def prepare_for(self, spec: ModelSpec, body: dict[str, Any]) -> ChatTurn:
        return parse_turn(spec, body, self.limits)

    async def _engine(self, spec: ModelSpec) -> ChatEngine:
        loaded: ChatEngine | None = self.registry.loaded(spec.id)
        return loaded if loaded is not None else await anyio.to_thread.run_sync(self.engine, spec)

    async def complete(self, turn: ChatTurn) -> dict[str, Any]:
        engine = await self._engine(turn.spec)
        self.inferences.add(turn.spec.id)
        return await engine.complete(turn.payload)

    async def stream(self, turn: ChatTurn) -> AsyncGenerator[dict[str, Any], None]:
        engine = await self._engine(turn.spec)
        self.inferences.add(turn.spec.id)
        async for chunk in engine.stream(turn.payload):
            yield chunk

    # -- other OpenAI routes an upstream serves (embeddings, image generation) ----------------------------------

    def upstream(self, spec: ModelSpec) -> UpstreamEngine:
        """The upstream client of a remote entry, whatever its task (blocking on first use: call off-loop)."""
        return self.registry.get(spec, self._upstream)

    async def _remote(self, spec: ModelSpec) -> UpstreamEngine:
        loaded: UpstreamEngine | None = self.registry.loaded(spec.id)
        return loaded if loaded is not None else await anyio.to_thread.run_sync(self.upstream, spec)

    @staticmethod
    def _named(spec: ModelSpec, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "model": str(spec.options.get("upstream_model") or spec.id)}

    async def forward(self, spec: ModelSpec, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """`body` sent to the upstream's `path` under its own model name; its answer, or the mapped error."""
        engine = await self._remote(spec)
        self.inferences.add(spec.id)
        return await engine.post(path, self._named(spec, body))

    async def forward_stream(self, spec: ModelSpec, path: str,
                             body: dict[str, Any]) -> AsyncGenerator[dict[str, Any], None]:
        engine = await self._remote(spec)
        self.inferences.add(spec.id)
        async for event in engine.stream_from(path, self._named(spec, body)):
            yield event
