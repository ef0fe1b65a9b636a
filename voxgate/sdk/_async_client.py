"""The asyncio client: `AsyncClient(...)`, the same resources as `Client` with awaitable methods.

    from voxgate import AsyncClient

    async with AsyncClient(api_key="vg_live_...", base_url="http://localhost:8000/v1") as client:
        result = await client.audio.transcriptions.create(model="whisper-1", file=Path("call.wav"))
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal, TypeVar, overload

import anyio
import httpx

from voxgate.sdk import _calls
from voxgate.sdk._agent import AsyncChat, AsyncEmbeddings, AsyncResponses, AsyncVoiceAgent
from voxgate.sdk._base import DEFAULT_TIMEOUT, BaseClient, Transient, connection_error
from voxgate.sdk._calls import UNSET, Call, Options, StreamEvent, TimeoutTypes, TranscriptionResult
from voxgate.sdk._calls import options as _options
from voxgate.sdk._files import FileTypes
from voxgate.sdk._jobs import AsyncJobs, AsyncWebhooks
from voxgate.sdk._streaming import AsyncStream, AsyncStreamedBinaryResponse, BinaryResponse
from voxgate.sdk.types import (
    Model,
    Page,
    Text,
    Transcription,
    TranscriptionDiarized,
    TranscriptionVerbose,
    Translation,
    TranslationVerbose,
    Voice,
    VoiceDeleted,
)

T = TypeVar("T")

__all__ = ["AsyncClient"]




class AsyncClient(BaseClient):
    """Async voxgate client; reuse one per event loop and `await close()` it (or use `async with`).

    Extras over the openai SDK: `pipeline_id=` pins every call to one model, failed calls are retried
    only when replay-safe (each POST carries an Idempotency-Key reused by its retries), and the
    `jobs` and `webhooks` resources reach voxgate's async jobs and signed webhooks.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        pipeline_id: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        webhook_secret: str | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(api_key, base_url=base_url, pipeline_id=pipeline_id, timeout=timeout,
                         max_retries=max_retries, default_headers=default_headers, webhook_secret=webhook_secret)
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self.audio = Audio(self)
        self.models = Models(self)
        self.jobs = AsyncJobs(self)
        self.webhooks = AsyncWebhooks(self)
        self.chat = AsyncChat(self)
        self.voice = AsyncVoiceAgent(self)
        self.embeddings = AsyncEmbeddings(self)
        self.responses = AsyncResponses(self)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # ---- transport ----

    async def send(self, call: Call[Any], *, stream: bool = False) -> httpx.Response:
        """Send with retries; `stream=True` returns before the body is read (and never retries after)."""
        for attempt in itertools.count():
            try:
                return await self._attempt(call, stream)
            except Transient as failure:
                delay = self.retry_delay(call, attempt, failure)
                if delay is None:
                    raise failure.error from failure.__cause__
                await anyio.sleep(delay)
        raise AssertionError("unreachable")

    async def _attempt(self, call: Call[Any], stream: bool) -> httpx.Response:
        request = call.build(self._http, self.base_url, self.default_headers)
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise Transient(connection_error(exc)) from exc
        finally:
            call.close_files()
        try:
            if response.is_error or not stream:
                await response.aread()
        except httpx.TransportError as exc:
            await response.aclose()
            raise Transient(connection_error(exc, response)) from exc
        if response.is_error:
            await response.aclose()
            self.check(response, self.retry_policy.status_is_retryable(response))
        return response

    async def request(self, call: Call[T]) -> T:
        if call.events is not None:
            return AsyncStream(await self.send(call, stream=True), call.events)  # type: ignore[return-value]
        return call.parse(await self.send(call))


class Speech:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self.with_streaming_response = SpeechWithStreamingResponse(self)

    def _call(self, *, input: str, voice: str | Mapping[str, str], model: str | None, instructions: str | None,
              response_format: str | None, speed: float | None, stream_format: str | None,
              reference_audio: FileTypes | str | None, options: Options) -> Call[httpx.Response]:
        return _calls.speech_call(model=self._client.resolve_model(model), input=input, voice=voice,
                                  instructions=instructions, response_format=response_format, speed=speed,
                                  stream_format=stream_format, reference_audio=reference_audio, options=options)

    async def create(
        self,
        *,
        input: str,
        voice: str | Mapping[str, str],
        model: str | None = None,
        instructions: str | None = None,
        response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] | None = None,
        speed: float | None = None,
        stream_format: Literal["audio", "sse"] | None = None,
        reference_audio: FileTypes | str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = UNSET,
        idempotency_key: str | None = None,
    ) -> BinaryResponse:
        """Synthesise `input`; the whole audio is read before returning (see `with_streaming_response`).

        `reference_audio` (bytes, a path or a file) is a clip of the voice to imitate, for models that clone.
        """
        call = self._call(input=input, voice=voice, model=model, instructions=instructions,
                          response_format=response_format, speed=speed, stream_format=stream_format,
                          reference_audio=reference_audio,
                          options=_options(extra_headers, extra_body, timeout, idempotency_key))
        return BinaryResponse(await self._client.send(call))


class SpeechWithStreamingResponse:
    def __init__(self, speech: Speech) -> None:
        self._speech = speech

    @contextlib.asynccontextmanager
    async def create(
        self,
        *,
        input: str,
        voice: str | Mapping[str, str],
        model: str | None = None,
        instructions: str | None = None,
        response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] | None = None,
        speed: float | None = None,
        stream_format: Literal["audio", "sse"] | None = None,
        reference_audio: FileTypes | str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = UNSET,
        idempotency_key: str | None = None,
    ) -> AsyncIterator[AsyncStreamedBinaryResponse]:
        """`async with ...create(...) as response: await response.stream_to_file("out.mp3")`: audio as it is made."""
        call = self._speech._call(input=input, voice=voice, model=model, instructions=instructions,
                                  response_format=response_format, speed=speed, stream_format=stream_format,
                                  reference_audio=reference_audio,
                                  options=_options(extra_headers, extra_body, timeout, idempotency_key))
        response = await self._speech._client.send(call, stream=True)
        try:
            yield AsyncStreamedBinaryResponse(response)
        finally:
            await response.aclose()


class Transcriptions:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    @overload
    async def create(self, *, file: FileTypes, model: str | None = ..., response_format: Literal["json"] | None = ...,
               language: str | None = ..., prompt: str | None = ..., temperature: float | None = ...,
               languages: Sequence[str] | None = ..., keywords: Sequence[str] | None = ...,
               timestamp_granularities: Sequence[Literal["word", "segment"]] | None = ...,
               include: Sequence[str] | None = ..., stream: Literal[False] = ...,
               chunking_strategy: str | Mapping[str, Any] | None = ...,
               known_speaker_names: Sequence[str] | None = ...,
               known_speaker_references: Sequence[FileTypes | str] | None = ..., diarize: bool | None = ...,
               redact: bool | str | Sequence[str] | None = ..., extra_headers: Mapping[str, str] | None = ...,
               extra_body: Mapping[str, Any] | None = ..., timeout: TimeoutTypes = ...,
               idempotency_key: str | None = ...) -> Transcription: ...

    @overload
    async def create(self, *, file: FileTypes, model: str | None = ..., response_format: Literal["verbose_json"],
               language: str | None = ..., prompt: str | None = ..., temperature: float | None = ...,
               languages: Sequence[str] | None = ..., keywords: Sequence[str] | None = ...,
               timestamp_granularities: Sequence[Literal["word", "segment"]] | None = ...,
               include: Sequence[str] | None = ..., stream: Literal[False] = ...,
               chunking_strategy: str | Mapping[str, Any] | None = ...,
               known_speaker_names: Sequence[str] | None = ...,
               known_speaker_references: Sequence[FileTypes | str] | None = ..., diarize: bool | None = ...,
               redact: bool | str | Sequence[str] | None = ..., extra_headers: Mapping[str, str] | None = ...,
               extra_body: Mapping[str, Any] | None = ..., timeout: TimeoutTypes = ...,
               idempotency_key: str | None = ...) -> TranscriptionVerbose: ...

    @overload
    async def create(self, *, file: FileTypes, model: str | None = ..., response_format: Literal["diarized_json"],
               language: str | None = ..., prompt: str | None = ..., temperature: float | None = ...,
               languages: Sequence[str] | None = ..., keywords: Sequence[str] | None = ...,
               timestamp_granularities: Sequence[Literal["word", "segment"]] | None = ...,
               include: Sequence[str] | None = ..., stream: Literal[False] = ...,
               chunking_strategy: str | Mapping[str, Any] | None = ...,
               known_speaker_names: Sequence[str] | None = ...,
               known_speaker_references: Sequence[FileTypes | str] | None = ..., diarize: bool | None = ...,
               redact: bool | str | Sequence[str] | None = ..., extra_headers: Mapping[str, str] | None = ...,
               extra_body: Mapping[str, Any] | None = ..., timeout: TimeoutTypes = ...,
               idempotency_key: str | None = ...) -> TranscriptionDiarized: ...

    @overload
    async def create(self, *, file: FileTypes, model: str | None = ..., response_format: Literal["text", "srt", "vtt"],
               language: str | None = ..., prompt: str | None = ..., temperature: float | None = ...,
               languages: Sequence[str] | None = ..., keywords: Sequence[str] | None = ...,
               timestamp_granularities: Sequence[Literal["word", "segment"]] | None = ...,
               include: Sequence[str] | None = ..., stream: Literal[False] = ...,
               chunking_strategy: str | Mapping[str, Any] | None = ...,
               known_speaker_names: Sequence[str] | None = ...,
               known_speaker_references: Sequence[FileTypes | str] | None = ..., diarize: bool | None = ...,
               redact: bool | str | Sequence[str] | None = ..., extra_headers: Mapping[str, str] | None = ...,
               extra_body: Mapping[str, Any] | None = ..., timeout: TimeoutTypes = ...,
               idempotency_key: str | None = ...) -> Text: ...

    @overload
    async def create(self, *, file: FileTypes, model: str | None = ..., response_format: str | None = ...,
               language: str | None = ..., prompt: str | None = ..., temperature: float | None = ...,
               languages: Sequence[str] | None = ..., keywords: Sequence[str] | None = ...,
               timestamp_granularities: Sequence[Literal["word", "segment"]] | None = ...,
               include: Sequence[str] | None = ..., stream: Literal[True],
               chunking_strategy: str | Mapping[str, Any] | None = ...,
               known_speaker_names: Sequence[str] | None = ...,
               known_speaker_references: Sequence[FileTypes | str] | None = ..., diarize: bool | None = ...,
               redact: bool | str | Sequence[str] | None = ..., extra_headers: Mapping[str, str] | None = ...,
               extra_body: Mapping[str, Any] | None = ..., timeout: TimeoutTypes = ...,
               idempotency_key: str | None = ...) -> AsyncStream[StreamEvent]: ...

    @overload
    async def create(self, *, file: FileTypes, model: str | None = ..., response_format: str | None = ...,
               language: str | None = ..., prompt: str | None = ..., temperature: float | None = ...,
               languages: Sequence[str] | None = ..., keywords: Sequence[str] | None = ...,
               timestamp_granularities: Sequence[Literal["word", "segment"]] | None = ...,
               include: Sequence[str] | None = ..., stream: bool = ...,
               chunking_strategy: str | Mapping[str, Any] | None = ...,
               known_speaker_names: Sequence[str] | None = ...,
               known_speaker_references: Sequence[FileTypes | str] | None = ..., diarize: bool | None = ...,
               redact: bool | str | Sequence[str] | None = ..., extra_headers: Mapping[str, str] | None = ...,
               extra_body: Mapping[str, Any] | None = ..., timeout: TimeoutTypes = ...,
               idempotency_key: str | None = ...) -> TranscriptionResult | AsyncStream[StreamEvent]: ...

    async def create(
        self,
        *,
        file: FileTypes,
        model: str | None = None,
        response_format: str | None = None,
        language: str | None = None,
        languages: Sequence[str] | None = None,
        keywords: Sequence[str] | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        timestamp_granularities: Sequence[Literal["word", "segment"]] | None = None,
        include: Sequence[str] | None = None,
        stream: bool = False,
        chunking_strategy: str | Mapping[str, Any] | None = None,
        known_speaker_names: Sequence[str] | None = None,
        known_speaker_references: Sequence[FileTypes | str] | None = None,
        diarize: bool | None = None,
        redact: bool | str | Sequence[str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = UNSET,
        idempotency_key: str | None = None,
    ) -> TranscriptionResult | AsyncStream[StreamEvent]:
        """Transcribe `file` (bytes, a path or a binary file).

        Returns Transcription (json), TranscriptionVerbose, TranscriptionDiarized, or a `str` for
        text/srt/vtt; with `stream=True`, a Stream of delta/segment/done events. `diarize=True` labels
        speakers, `redact=True` (or category names: email, phone, card, name) masks PII. `languages` lists
        the languages expected (detection picks among them); `keywords` are domain words that bias decoding.
        """
        form = _calls.transcription_form(
            model=self._client.resolve_model(model), language=language, prompt=prompt, temperature=temperature,
            timestamp_granularities=timestamp_granularities, include=include, chunking_strategy=chunking_strategy,
            known_speaker_names=known_speaker_names, known_speaker_references=known_speaker_references,
            diarize=diarize, redact=redact, languages=languages, keywords=keywords)
        call = _calls.transcription_call(task="transcribe", path="audio/transcriptions", file=file, form=form,
                                         response_format=response_format, stream=stream,
                                         options=_options(extra_headers, extra_body, timeout, idempotency_key))
        result: TranscriptionResult | AsyncStream[StreamEvent] = await self._client.request(call)
        return result


class Translations:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self,
        *,
        file: FileTypes,
        model: str | None = None,
        response_format: Literal["json", "text", "srt", "vtt", "verbose_json"] | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: TimeoutTypes = UNSET,
        idempotency_key: str | None = None,
    ) -> Translation | TranslationVerbose | Text:
        """Translate speech in `file` into English text."""
        form = {"model": self._client.resolve_model(model), "prompt": prompt, "temperature": temperature}
        call = _calls.transcription_call(task="translate", path="audio/translations", file=file, form=form,
                                         response_format=response_format, stream=False,
                                         options=_options(extra_headers, extra_body, timeout, idempotency_key))
        result: Translation | TranslationVerbose | Text = await self._client.request(call)
        return result


class Voices:
    """Bundled voices and custom ones matched from a sample (`/v1/audio/voices`)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self, *, model: str | None = None, timeout: TimeoutTypes = UNSET) -> Page[Voice]:
        """Every voice of every speech model (or of `model`), then this key's custom voices."""
        return await self._client.request(_calls.voices_list_call(model, _options(None, None, timeout)))

    async def create(self, *, name: str, consent: str, audio_sample: FileTypes,
               extra_body: Mapping[str, Any] | None = None, timeout: TimeoutTypes = UNSET,
               idempotency_key: str | None = None) -> Voice:
        """A custom voice from 3-30 s of the speaker: the blend of bundled voices that sounds most like it."""
        call = _calls.voice_create_call(name=name, consent=consent, audio_sample=audio_sample,
                                        options=_options(None, extra_body, timeout, idempotency_key))
        return await self._client.request(call)

    async def retrieve(self, voice_id: str, *, timeout: TimeoutTypes = UNSET) -> Voice:
        return await self._client.request(_calls.voice_retrieve_call(voice_id, _options(None, None, timeout)))

    async def delete(self, voice_id: str, *, timeout: TimeoutTypes = UNSET) -> VoiceDeleted:
        return await self._client.request(_calls.voice_delete_call(voice_id, _options(None, None, timeout)))


class Audio:
    def __init__(self, client: AsyncClient) -> None:
        self.speech = Speech(client)
        self.transcriptions = Transcriptions(client)
        self.translations = Translations(client)
        self.voices = Voices(client)


class Models:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self, *, extra_headers: Mapping[str, str] | None = None,
                   timeout: TimeoutTypes = UNSET) -> Page[Model]:
        return await self._client.request(_calls.models_list_call(_options(extra_headers, None, timeout)))

    async def retrieve(self, model: str, *, extra_headers: Mapping[str, str] | None = None,
                 timeout: TimeoutTypes = UNSET) -> Model:
        return await self._client.request(_calls.model_retrieve_call(model, _options(extra_headers, None, timeout)))
