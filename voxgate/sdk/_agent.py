"""The surface beyond audio, on both clients: `client.chat.completions.create(...)`,
`client.responses.create(...)` and `client.embeddings.create(...)` (the openai SDK's calls), and
`client.voice.pipeline.create(pipeline_id=..., file=...)`, a spoken turn as typed events."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from voxgate.sdk import _calls
from voxgate.sdk._calls import UNSET, TimeoutTypes
from voxgate.sdk._calls import options as _options
from voxgate.sdk._files import FileTypes
from voxgate.sdk.types import CreateEmbeddingResponse, PipelineAudioDeltaEvent, PipelineEvent

if TYPE_CHECKING:
    from voxgate.sdk._async_client import AsyncClient
    from voxgate.sdk._client import Client




def _chat_body(model: str, messages: Sequence[Mapping[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [dict(m) for m in messages], **fields}


def write_reply_audio(events: Iterable[PipelineEvent], file: str | os.PathLike[str]) -> list[PipelineEvent]:
    """Write the reply audio of a streamed turn to `file` as it arrives; returns the events (all of them)."""
    seen: list[PipelineEvent] = []
    with open(file, "wb") as fh:
        for event in events:
            if isinstance(event, PipelineAudioDeltaEvent):
                fh.write(event.data)
            seen.append(event)
    return seen


async def awrite_reply_audio(events: AsyncIterable[PipelineEvent], file: str | os.PathLike[str]) -> list[PipelineEvent]:
    seen: list[PipelineEvent] = []
    with open(file, "wb") as fh:
        async for event in events:
            if isinstance(event, PipelineAudioDeltaEvent):
                fh.write(event.data)
            seen.append(event)
    return seen


class Completions:
    def __init__(self, client: Client) -> None:
        self._client = client

    def create(self, *, model: str | None = None, messages: Sequence[Mapping[str, Any]], stream: bool = False,
               extra_headers: Mapping[str, str] | None = None, extra_body: Mapping[str, Any] | None = None,
               timeout: TimeoutTypes = UNSET, idempotency_key: str | None = None, **fields: Any) -> Any:
        """A `ChatCompletion`, or with `stream=True` a Stream of `ChatCompletionChunk`s. Other OpenAI fields
        (max_tokens, temperature, stop, stream_options, ...) pass as keywords."""
        body = _chat_body(self._client.resolve_model(model), messages, stream=stream or None, **fields)
        call = _calls.chat_call(body=body, options=_options(extra_headers, extra_body, timeout, idempotency_key))
        return self._client.request(call)


class Chat:
    def __init__(self, client: Client) -> None:
        self.completions = Completions(client)


class Pipeline:
    def __init__(self, client: Client) -> None:
        self._client = client

    def create(self, *, pipeline_id: str, file: FileTypes, conversation_id: str | None = None,
               response_format: str | None = None, stream: bool = True,
               extra_headers: Mapping[str, str] | None = None, extra_body: Mapping[str, Any] | None = None,
               timeout: TimeoutTypes = UNSET, idempotency_key: str | None = None) -> Any:
        """Run one spoken turn: a Stream of transcript, reply-delta, audio-delta and done events (or, with
        `stream=False`, one `PipelineRun`). `voxgate.sdk.write_reply_audio(events, path)` saves the audio."""
        call = _calls.pipeline_run_call(pipeline_id=pipeline_id, file=file, conversation_id=conversation_id,
                                        response_format=response_format, stream=stream,
                                        options=_options(extra_headers, extra_body, timeout, idempotency_key))
        return self._client.request(call)


class VoiceAgent:
    def __init__(self, client: Client) -> None:
        self.pipeline = Pipeline(client)


class AsyncCompletions:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(self, *, model: str | None = None, messages: Sequence[Mapping[str, Any]], stream: bool = False,
                     extra_headers: Mapping[str, str] | None = None, extra_body: Mapping[str, Any] | None = None,
                     timeout: TimeoutTypes = UNSET, idempotency_key: str | None = None, **fields: Any) -> Any:
        body = _chat_body(self._client.resolve_model(model), messages, stream=stream or None, **fields)
        call = _calls.chat_call(body=body, options=_options(extra_headers, extra_body, timeout, idempotency_key))
        return await self._client.request(call)


class AsyncChat:
    def __init__(self, client: AsyncClient) -> None:
        self.completions = AsyncCompletions(client)


class AsyncPipeline:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(self, *, pipeline_id: str, file: FileTypes, conversation_id: str | None = None,
                     response_format: str | None = None, stream: bool = True,
                     extra_headers: Mapping[str, str] | None = None, extra_body: Mapping[str, Any] | None = None,
                     timeout: TimeoutTypes = UNSET, idempotency_key: str | None = None) -> Any:
        call = _calls.pipeline_run_call(pipeline_id=pipeline_id, file=file, conversation_id=conversation_id,
                                        response_format=response_format, stream=stream,
                                        options=_options(extra_headers, extra_body, timeout, idempotency_key))
        return await self._client.request(call)


class AsyncVoiceAgent:
    def __init__(self, client: AsyncClient) -> None:
        self.pipeline = AsyncPipeline(client)


class Embeddings:
    def __init__(self, client: Client) -> None:
        self._client = client

    def create(self, *, input: str | Sequence[str], model: str | None = None, encoding_format: str | None = None,
               dimensions: int | None = None, extra_headers: Mapping[str, str] | None = None,
               extra_body: Mapping[str, Any] | None = None, timeout: TimeoutTypes = UNSET,
               idempotency_key: str | None = None) -> CreateEmbeddingResponse:
        """Vectors for `input` (a string or a list of them); base64 answers are decoded to floats."""
        body = {"model": self._client.resolve_model(model), "input": input if isinstance(input, str) else list(input),
                "encoding_format": encoding_format, "dimensions": dimensions}
        return self._client.request(_calls.embeddings_call(body=body, options=_options(
            extra_headers, extra_body, timeout, idempotency_key)))


class AsyncEmbeddings:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(self, *, input: str | Sequence[str], model: str | None = None,
                     encoding_format: str | None = None, dimensions: int | None = None,
                     extra_headers: Mapping[str, str] | None = None, extra_body: Mapping[str, Any] | None = None,
                     timeout: TimeoutTypes = UNSET, idempotency_key: str | None = None) -> CreateEmbeddingResponse:
        body = {"model": self._client.resolve_model(model), "input": input if isinstance(input, str) else list(input),
                "encoding_format": encoding_format, "dimensions": dimensions}
        return await self._client.request(_calls.embeddings_call(body=body, options=_options(
            extra_headers, extra_body, timeout, idempotency_key)))


class Responses:
    def __init__(self, client: Client) -> None:
        self._client = client

    def create(self, *, input: str | Sequence[Mapping[str, Any]], model: str | None = None, stream: bool = False,
               extra_headers: Mapping[str, str] | None = None, extra_body: Mapping[str, Any] | None = None,
               timeout: TimeoutTypes = UNSET, idempotency_key: str | None = None, **fields: Any) -> Any:
        """A `Response`, or with `stream=True` a Stream of `ResponseEvent`s. instructions, max_output_tokens,
        temperature, previous_response_id, store, ... pass as keywords."""
        body = {"model": self._client.resolve_model(model), "input": input if isinstance(input, str)
                else [dict(i) for i in input], "stream": stream or None, **fields}
        return self._client.request(_calls.responses_call(body=body, options=_options(
            extra_headers, extra_body, timeout, idempotency_key)))


class AsyncResponses:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(self, *, input: str | Sequence[Mapping[str, Any]], model: str | None = None,
                     stream: bool = False, extra_headers: Mapping[str, str] | None = None,
                     extra_body: Mapping[str, Any] | None = None, timeout: TimeoutTypes = UNSET,
                     idempotency_key: str | None = None, **fields: Any) -> Any:
        body = {"model": self._client.resolve_model(model), "input": input if isinstance(input, str)
                else [dict(i) for i in input], "stream": stream or None, **fields}
        return await self._client.request(_calls.responses_call(body=body, options=_options(
            extra_headers, extra_body, timeout, idempotency_key)))
