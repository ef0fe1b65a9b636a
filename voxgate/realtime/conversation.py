"""A realtime session with a voice pipeline: each completed user turn is answered aloud, in OpenAI's Realtime
response events, by the pipeline's LLM and voice (the same turn `POST /v1/pipelines/{id}/run` runs).

Speech that starts while a reply is still going interrupts it, as on a phone call: the reply stops and its
`response.done` says `cancelled`. The conversation's history lives as long as the session (bounded)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from voxgate.errors import APIError
from voxgate.models.catalog import ModelSpec
from voxgate.pipelines import Heard, VoicePipeline
from voxgate.pipelines.service import Clock
from voxgate.realtime.protocol import CONVERSATION_EVENTS, ClientEvent, RealtimeError, new_id, server_event
from voxgate.realtime.session import TranscriptionSession
from voxgate.store.interfaces import Pipeline

log = logging.getLogger("voxgate.realtime")

Charge = Callable[[ModelSpec, int], Awaitable[None]]  # a stage's units, for the ledger


class ConversationSession(TranscriptionSession):
    def __init__(self, *args: Any, pipeline: Pipeline, voice: VoicePipeline, max_history: int,
                 charge: Charge | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pipeline = pipeline
        self.voice = voice
        self.max_history = max_history
        self.charge = charge
        self.history: list[dict[str, str]] = []
        self.reply: asyncio.Task[None] | None = None
        self.replies = 0

    allowed_events: tuple[str, ...] = CONVERSATION_EVENTS

    async def handle(self, event: ClientEvent) -> None:
        if event.type == "response.cancel":
            if not self.cancel_reply():
                self.emit(RealtimeError("no response is in progress", code="response_cancel_not_active",
                                        event_id=event.event_id).event())
        elif event.type == "response.create":
            self.emit(RealtimeError("a pipeline session answers every committed turn by itself",
                                    code="unsupported_event", param="type", event_id=event.event_id).event())
        else:
            await super().handle(event)

    # -- hooks of the transcription session ------------------------------------------------------------

    def speech_started(self) -> None:
        self.cancel_reply()  # barge-in

    async def completed(self, item_id: str, text: str, language: str | None, seconds: float) -> None:
        if not text:
            return
        heard = Heard(text=text, language=language, seconds=seconds)
        if self.reply is not None and not self.reply.done():
            self.reply.cancel()
            await asyncio.gather(self.reply, return_exceptions=True)
        self.reply = self._spawn(self._respond(item_id, heard))

    def cancel_reply(self) -> bool:
        if self.reply is not None and not self.reply.done():
            self.reply.cancel()
            return True
        return False

    # -- one reply -------------------------------------------------------------------------------------

    async def _respond(self, user_item: str, heard: Heard) -> None:
        response_id, item_id = new_id("resp"), new_id("item")
        where = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        item: dict[str, Any] = {"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant",
                                "status": "in_progress", "content": []}
        self.emit(server_event("response.created", response={
            "id": response_id, "object": "realtime.response", "status": "in_progress", "output": [],
            "conversation_id": None, "output_modalities": ["audio"], "usage": None}))
        self.emit(server_event("response.output_item.added", response_id=response_id, output_index=0, item=item))
        self.emit(server_event("response.content_part.added", **where,
                               part={"type": "audio", "transcript": ""}))
        transcript: list[str] = []
        status, error, done = "completed", None, None
        try:
            async for event in self.voice.answer(self.pipeline, self.history, heard, "pcm", Clock()):
                if event["type"] == "pipeline.reply.delta":
                    transcript.append(event["delta"])
                    self.emit(server_event("response.output_audio_transcript.delta", **where, delta=event["delta"]))
                elif event["type"] == "pipeline.audio.delta":
                    self.emit(server_event("response.output_audio.delta", **where, delta=event["audio"]))
                elif event["type"] == "pipeline.done":
                    done = event
        except asyncio.CancelledError:
            status = "cancelled"
        except APIError as exc:
            status, error = "failed", exc.body()["error"]
        except Exception:
            log.exception("a realtime reply failed")
            status, error = "failed", {"type": "server_error", "code": "internal_error", "message": "the reply failed",
                                       "param": None}
        text = done["reply"] if done is not None else "".join(transcript).strip()
        if status == "completed":
            self.emit(server_event("response.output_audio.done", **where))
            self.emit(server_event("response.output_audio_transcript.done", **where, transcript=text))
        item = {**item, "status": "completed" if status == "completed" else "incomplete",
                "content": [{"type": "output_audio", "transcript": text}]}
        self.emit(server_event("response.output_item.done", response_id=response_id, output_index=0, item=item))
        usage = self._usage(done)
        details: dict[str, Any] = {"type": status}
        if status == "cancelled":
            details["reason"] = "turn_detected"
        if error is not None:
            details["error"] = error
        self.emit(server_event("response.done", response={
            "id": response_id, "object": "realtime.response", "status": status, "status_details": details,
            "output": [item], "output_modalities": ["audio"], "usage": usage}))
        if text:
            self.history += [{"role": "user", "content": heard.text}, {"role": "assistant", "content": text}]
            self.history = self.history[-self.max_history:] if self.max_history else []
        self.replies += 1
        if done is not None:
            await self._charge(done["usage"])

    @staticmethod
    def _usage(done: dict[str, Any] | None) -> dict[str, Any] | None:
        if done is None:
            return None
        llm = done["usage"]["llm"]
        return {"total_tokens": llm["total_tokens"], "input_tokens": llm["prompt_tokens"],
                "output_tokens": llm["completion_tokens"],
                "input_token_details": {"text_tokens": llm["prompt_tokens"], "audio_tokens": 0},
                "output_token_details": {"text_tokens": llm["completion_tokens"], "audio_tokens": 0}}

    async def _charge(self, usage: dict[str, Any]) -> None:
        if self.charge is None:
            return
        _, llm, tts = self.voice.specs(self.pipeline)
        try:
            await self.charge(llm, int(usage["llm"]["total_tokens"]))
            await self.charge(tts, int(usage["tts"]["characters"]))
        except Exception:
            log.exception("charging a realtime reply failed")
