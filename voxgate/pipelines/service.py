"""One spoken turn through a pipeline, free of HTTP: hear (STT), then think (LLM, streamed) and speak (TTS)
at once, every clause synthesised as soon as the LLM has written it.

`hear` blocks (run it off the loop); `answer` is an async stream of events, ending with `pipeline.done`."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import numpy as np

from voxgate.audio.decode import PcmFile
from voxgate.audio.encode import OUTPUT_RATE, StreamEncoder
from voxgate.errors import APIError, bad_request
from voxgate.llm import ChatService
from voxgate.models.catalog import ModelSpec
from voxgate.pipelines.sentences import SentenceSplitter, last_sentence_end, speakable
from voxgate.store.interfaces import Pipeline
from voxgate.transcription import Fields, TranscriptionRequest, TranscriptionService, billable_seconds
from voxgate.tts.service import SpeechService

_END = object()


@dataclass(frozen=True)
class Heard:
    """What the user said."""

    text: str
    language: str | None
    seconds: float


@dataclass
class Clock:
    """Milliseconds since the upload was in, per stage (pipeline.done's `timings`)."""

    start: float = field(default_factory=time.perf_counter)
    marks: dict[str, int] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, int((time.perf_counter() - self.start) * 1000))


class VoicePipeline:
    def __init__(self, transcription: TranscriptionService, chat: ChatService, speech: SpeechService) -> None:
        self.transcription = transcription
        self.chat = chat
        self.speech = speech

    # -- checks ---------------------------------------------------------------------------------------------

    def check(self, pipeline: Pipeline) -> None:
        """What only the engines know: the voice exists on the TTS model, the language on both ends."""
        tts = self.speech.catalog.require(pipeline.tts_model, "speech")
        try:
            self.speech.resolve_voice(tts, pipeline.voice)
        except APIError as exc:
            raise APIError(exc.status, exc.message, code=exc.code, param="voice") from None
        if pipeline.language:
            self.stt_request(pipeline)
            try:
                self.speech.prepare_for(tts, "a", pipeline.voice, language=pipeline.language)
            except APIError as exc:
                raise APIError(exc.status, f"{exc.message} (the pipeline's language)", code=exc.code,
                               param="language") from None

    def specs(self, pipeline: Pipeline) -> tuple[ModelSpec, ModelSpec, ModelSpec]:
        catalog = self.speech.catalog
        return (catalog.require(pipeline.stt_model, "transcription"), catalog.require(pipeline.llm_model, "chat"),
                catalog.require(pipeline.tts_model, "speech"))

    def stt_request(self, pipeline: Pipeline) -> TranscriptionRequest:
        values: dict[str, list[Any]] = {"model": [pipeline.stt_model]}
        if pipeline.language:
            values["language"] = [pipeline.language]
        try:
            return self.transcription.parse(Fields(values), "transcribe")
        except APIError as exc:
            raise APIError(exc.status, exc.message, code=exc.code, param="language" if exc.param == "language"
                           else "stt_model") from None

    # -- the turn -------------------------------------------------------------------------------------------

    def hear(self, pipeline: Pipeline, audio: PcmFile, label: str = "") -> Heard:
        """The user's words (blocking); silence or no words is a 400 before any LLM call. The LLM and TTS
        engines are loaded here too, in this thread, so `answer` never loads a model on the event loop."""
        _, llm, tts = self.specs(pipeline)
        self.chat.engine(llm)
        self.speech.engine(tts)
        transcript = self.transcription.transcribe(audio, self.stt_request(pipeline), label=label)
        text = transcript.text.strip()
        if not text:
            raise bad_request("no speech was heard in the audio; nothing was asked", param="file",
                              code="empty_transcript")
        return Heard(text=text, language=transcript.language, seconds=billable_seconds(audio.duration))

    @staticmethod
    def messages(pipeline: Pipeline, history: list[dict[str, str]], text: str) -> list[dict[str, str]]:
        system = [{"role": "system", "content": pipeline.system_prompt}] if pipeline.system_prompt else []
        return [*system, *history, {"role": "user", "content": text}]

    def _pcm(self, spec: ModelSpec, pipeline: Pipeline, text: str) -> Iterator[np.ndarray]:
        utterance = self.speech.prepare_for(spec, text, pipeline.voice, language=pipeline.language)
        engine = self.speech.engine(spec)
        self.speech.inferences.add(spec.id)
        yield from engine.synthesize(utterance.text, utterance.options)

    async def answer(self, pipeline: Pipeline, history: list[dict[str, str]], heard: Heard, response_format: str,
                     clock: Clock) -> AsyncIterator[dict[str, Any]]:
        """`pipeline.reply.delta` and `pipeline.audio.delta` events as they come, then `pipeline.done` with the
        reply (cut at its last sentence end when `max_reply_tokens` ran out), usage and timings."""
        _, llm, tts = self.specs(pipeline)
        turn = self.chat.prepare_for(llm, {"messages": self.messages(pipeline, history, heard.text),
                                           "max_tokens": pipeline.max_reply_tokens, "stream": True,
                                           "temperature": pipeline.temperature})
        events: asyncio.Queue[Any] = asyncio.Queue()
        pieces: asyncio.Queue[str | None] = asyncio.Queue()
        encoder = StreamEncoder(response_format, self.speech.engine(tts).sample_rate)
        state: dict[str, Any] = {"reply": "", "finish": None, "usage": None, "spoken": 0}

        async def think() -> None:
            splitter = SentenceSplitter()
            async for chunk in self.chat.stream(turn):
                if chunk.get("usage"):
                    state["usage"] = chunk["usage"]
                for choice in chunk.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content") or ""
                    if choice.get("finish_reason"):
                        state["finish"] = choice["finish_reason"]
                    if delta:
                        clock.mark("llm_first_token_ms")
                        state["reply"] += delta
                        await events.put({"type": "pipeline.reply.delta", "delta": delta})
                        for piece in splitter.feed(delta):
                            await pieces.put(piece)
            rest = splitter.flush()
            # a reply cut by max_reply_tokens ends at its last full sentence, unless it never finished one
            if rest and (state["finish"] != "length" or splitter.pieces == 0):
                await pieces.put(rest)
            await pieces.put(None)

        async def speak() -> None:
            while (piece := await pieces.get()) is not None:
                text = speakable(piece)
                if not text:
                    continue
                state["spoken"] += len(text)
                blocks = self._pcm(tts, pipeline, text)
                while (block := await anyio.to_thread.run_sync(next, blocks, None)) is not None:
                    await self._audio(events, encoder.write(block), response_format, clock)
            await self._audio(events, encoder.close(), response_format, clock)

        async def run(stage: Any) -> None:
            try:
                await stage()
            except BaseException as exc:
                await events.put(exc)
                raise
            finally:
                await events.put(_END)

        tasks = [asyncio.create_task(run(think)), asyncio.create_task(run(speak))]
        try:
            finished = 0
            while finished < len(tasks):
                item = await events.get()
                if item is _END:
                    finished += 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            for task in tasks:
                task.cancel()
        clock.mark("total_ms")
        reply, truncated = state["reply"], state["finish"] == "length"
        if truncated:
            cut = last_sentence_end(reply)
            reply = reply[:cut] if cut else reply
        usage = state["usage"] or {}
        yield {"type": "pipeline.done", "transcript": heard.text, "language": heard.language,
               "reply": reply.strip(), "truncated": truncated,
               "usage": {"stt": {"model": pipeline.stt_model, "seconds": heard.seconds},
                         "llm": {"model": llm.id, "prompt_tokens": usage.get("prompt_tokens", turn.prompt_estimate),
                                 "completion_tokens": usage.get("completion_tokens", 0),
                                 "total_tokens": usage.get("total_tokens", turn.prompt_estimate)},
                         "tts": {"model": tts.id, "characters": state["spoken"]}},
               "timings": dict(clock.marks)}

    @staticmethod
    async def _audio(events: asyncio.Queue[Any], data: bytes, response_format: str, clock: Clock) -> None:
        if data:
            clock.mark("first_audio_ms")
            await events.put({"type": "pipeline.audio.delta", "audio": base64.b64encode(data).decode(),
                              "format": response_format, "sample_rate": OUTPUT_RATE})
