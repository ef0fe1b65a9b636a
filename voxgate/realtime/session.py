"""One realtime transcription session, free of WebSocket details: client events in (`handle`), server events
out (`events`, a bounded queue the connection drains).

Audio is decoded to 16 kHz as it arrives and run through server_vad. While a turn is open its audio is drafted
every `draft_interval_s` with a fast model, and the words two drafts agree on go out as deltas; when the turn
ends (server_vad's silence, or the client's commit) the session's model transcribes it for the completed
event. Every model call runs in a worker thread; the models' batch scheduler shares them among sessions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import numpy as np

from voxgate.audio import SAMPLE_RATE
from voxgate.config import RealtimeSettings
from voxgate.errors import APIError
from voxgate.models.catalog import ModelSpec
from voxgate.realtime.audio import InputAudio
from voxgate.realtime.drafts import StablePrefix
from voxgate.realtime.protocol import (
    CLIENT_EVENTS,
    ClientEvent,
    RealtimeError,
    SessionConfig,
    apply_update,
    audio_of,
    new_id,
    server_event,
)
from voxgate.realtime.turns import Edge, TurnDetector
from voxgate.transcript import Transcript
from voxgate.transcription import Fields, TranscriptionRequest, TranscriptionService, languages

log = logging.getLogger("voxgate.realtime")

MIN_COMMIT_S = 0.1  # OpenAI refuses to commit less than 100 ms of audio
SUFFIX_S = 0.3  # audio kept after a turn's last speech frame (word endings are soft)
MAX_DRAFT_S = 30.0  # drafts cover one Whisper window; a longer manual buffer waits for its commit

SPECULATE_MS = 200  # a pause this long in an open server_vad turn starts its final decode early
T = TypeVar("T")
Meter = Callable[[float], Awaitable[None]]  # audio seconds received; raises APIError (402) to refuse them


class Timeline:
    """The session's 16 kHz samples from `start` on (older ones are dropped once no turn needs them)."""

    def __init__(self) -> None:
        self._chunks: list[np.ndarray] = []
        self.start = 0
        self.end = 0

    def append(self, samples: np.ndarray) -> None:
        if len(samples):
            self._chunks.append(samples)
            self.end += len(samples)

    def slice(self, a: int, b: int) -> np.ndarray:
        a, b = max(a, self.start), min(b, self.end)
        if b <= a:
            return np.zeros(0, dtype=np.float32)
        whole = np.concatenate(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        self._chunks = [whole]
        return whole[a - self.start:b - self.start].copy()

    def drop_before(self, a: int) -> None:
        a = min(a, self.end)
        while self._chunks and self.start + len(self._chunks[0]) <= a:
            self.start += len(self._chunks.pop(0))
        if self._chunks and a > self.start:
            self._chunks[0] = self._chunks[0][a - self.start:]
            self.start = a


@dataclass(frozen=True)
class Speculation:
    """A final decode started at a pause: good for the item if the turn ends at `speech_end`."""

    speech_end: int
    seconds: float
    task: asyncio.Task[Transcript]


def _retrieve(task: asyncio.Task[Transcript]) -> None:
    if not task.cancelled():
        task.exception()  # a stale speculation's failure is nobody's: mark it seen


@dataclass
class Turn:
    """The open part of the buffer: its item id and where it begins on the timeline."""

    item_id: str
    start: int
    prefix: StablePrefix = field(default_factory=StablePrefix)
    drafted_to: int = 0  # timeline index the latest draft covered
    speculation: Speculation | None = None
    announced: bool = False  # speech_started was sent


def ms(sample: int) -> int:
    return int(sample * 1000 / SAMPLE_RATE)


class TranscriptionSession:
    def __init__(self, service: TranscriptionService, settings: RealtimeSettings, config: SessionConfig,
                 meter: Meter | None = None, authorize: Callable[[str], object] | None = None) -> None:
        self.service = service
        self.settings = settings
        self.config = config
        self.meter = meter
        self.authorize = authorize  # the caller's key may use this model (raises APIError 403 otherwise)
        self.events: asyncio.Queue[dict[str, object]] = asyncio.Queue(settings.max_pending_events)
        # set when the client stopped reading and `events` filled up: the connection is closed, not buffered
        self.overflowed = asyncio.Event()
        self.request, self.draft_request = self._requests(config)
        self.input = InputAudio(config.format, config.rate)
        self.timeline = Timeline()
        self.detector = self._detector(config)
        self.turn: Turn | None = None
        self.last_item: str | None = None
        self.heard_speech = False  # manual mode: drafts only once the buffer has speech
        self.seconds_in = 0.0
        self._drafting = False
        self._speculating = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._previous_final: asyncio.Task[None] | None = None
        self.turns_completed = 0

    # -- configuration -----------------------------------------------------------------------------------

    def _requests(self, config: SessionConfig) -> tuple[TranscriptionRequest, TranscriptionRequest]:
        """The final request (the session's model) and the drafts': the session's model too, unless a draft
        model is configured (used for English sessions only). The same model drafting and finishing a turn
        keeps the deltas a prefix of the transcript far more often than a smaller, faster one."""
        try:
            if self.authorize is not None:
                self.authorize(config.transcription.model)
            final = self.service.parse(Fields(config.transcription.fields()), "transcribe")
            spec = self.service.model(final)
        except APIError as exc:
            raise RealtimeError(exc.message, code=exc.code or "invalid_value", type=exc.type,
                                param=f"session.audio.input.transcription.{exc.param or 'model'}") from None
        english = final.language == "en" or spec.id.endswith(".en")
        fast = self.service.catalog.resolve(self.settings.draft_model) if self.settings.draft_model else None
        draft = final
        if english and fast is not None and fast.task == "transcription" and fast.is_available():
            draft = final.model_copy(update={"model": fast.id, "language": "en", "languages": ()})
        return final, draft

    def _detector(self, config: SessionConfig) -> TurnDetector:
        td = config.turn_detection
        return TurnDetector(td.threshold if td else 0.5, td.silence_duration_ms if td else 500)

    @property
    def spec(self) -> ModelSpec:
        return self.service.model(self.request)

    allowed_events: tuple[str, ...] = CLIENT_EVENTS

    def created(self) -> dict[str, object]:
        return server_event("session.created", session=self.config.wire())

    # -- client events -----------------------------------------------------------------------------------

    async def handle(self, event: ClientEvent) -> None:
        try:
            if event.type == "session.update":
                self._update(event)
            elif event.type == "input_audio_buffer.append":
                await self._append(audio_of(event), event.event_id)
            elif event.type == "input_audio_buffer.commit":
                self._commit_by_client(event.event_id)
            elif event.type == "input_audio_buffer.clear":
                self._clear()
        except RealtimeError as exc:
            exc.event_id = exc.event_id or event.event_id
            self.emit(exc.event())

    def _update(self, event: ClientEvent) -> None:
        config = apply_update(self.config, event.body.get("session"), event.event_id,
                              conversation=self.config.pipeline is not None)
        if config.format != self.config.format and self.timeline.end:
            raise RealtimeError("the input format cannot change once audio has arrived",
                                param="session.audio.input.format", event_id=event.event_id)
        self.request, self.draft_request = self._requests(config)  # handle() names the event on a refusal
        if config.turn_detection != self.config.turn_detection:
            self.detector = self._detector(config)
            if self.turn is not None and config.turn_detection is not None and not self.heard_speech:
                self.turn = None
        if config.format != self.config.format:
            self.input = InputAudio(config.format, config.rate)
        self.config = config
        self.emit(server_event("session.updated", session=config.wire()))

    async def _append(self, data: bytes, event_id: str | None) -> None:
        seconds = self.input.seconds(data)
        if self.config.turn_detection is None and self.buffered_s() + seconds > self.settings.max_buffer_s:
            raise RealtimeError(f"the input audio buffer holds at most {self.settings.max_buffer_s:g} s; commit "
                                "or clear it", code="buffer_full", param="audio", event_id=event_id)
        if self.meter is not None:
            try:
                await self.meter(seconds)
            except APIError as exc:
                raise RealtimeError(exc.message, code=exc.code or "insufficient_credits", type=exc.type,
                                    event_id=event_id) from None
        self.seconds_in += seconds
        samples = self.input.feed(data)
        if not len(samples):
            return
        self.timeline.append(samples)
        edges = await anyio.to_thread.run_sync(self.detector.feed, samples)
        self._follow(edges)

    def buffered_s(self) -> float:
        start = self.turn.start if self.turn is not None else self.timeline.end
        return (self.timeline.end - start) / SAMPLE_RATE

    # -- turns -------------------------------------------------------------------------------------------

    def _follow(self, edges: list[Edge]) -> None:
        vad = self.config.turn_detection
        if vad is None:  # the client commits: the whole buffer is the turn
            if self.turn is None:
                self.turn = Turn(new_id("item"), self.timeline.start)
            self.heard_speech = self.heard_speech or any(e.kind == "start" for e in edges) or self.detector.speaking
            self._maybe_draft()
            return
        pad = int(vad.prefix_padding_ms * SAMPLE_RATE / 1000)
        for edge in edges:
            if edge.kind == "start":
                start = max(edge.sample - pad, self.timeline.start)
                self.turn = Turn(new_id("item"), start, announced=True)
                self.emit(server_event("input_audio_buffer.speech_started", audio_start_ms=ms(start),
                                       item_id=self.turn.item_id))
                self.speech_started()
            elif self.turn is not None:
                end = min(edge.sample + int(SUFFIX_S * SAMPLE_RATE), self.timeline.end)
                self.emit(server_event("input_audio_buffer.speech_stopped", audio_end_ms=ms(edge.sample),
                                       item_id=self.turn.item_id))
                self._commit(end, speech_end=edge.sample)
        if self.turn is None:  # between turns keep only what a next turn's prefix padding may need
            self.timeline.drop_before(self.timeline.end - pad)
            return
        if (self.timeline.end - self.turn.start) / SAMPLE_RATE >= self.settings.max_turn_s:
            self.emit(server_event("input_audio_buffer.speech_stopped", audio_end_ms=ms(self.timeline.end),
                                   item_id=self.turn.item_id))
            self._commit(self.timeline.end)
            self.detector.reset()
            return
        self._maybe_speculate()
        self._maybe_draft()

    def _commit_by_client(self, event_id: str | None) -> None:
        if self.turn is None or (self.timeline.end - self.turn.start) / SAMPLE_RATE < MIN_COMMIT_S:
            raise RealtimeError("the input audio buffer holds less than 100 ms of audio: nothing to commit",
                                code="input_audio_buffer_commit_empty", event_id=event_id)
        self.detector.reset()
        self._commit(self.timeline.end)

    def _commit(self, end: int, speech_end: int | None = None) -> None:
        """The open turn becomes an item: committed now, transcribed by the session's model in the background
        (or already being transcribed, when the pause that ended it started a speculative decode)."""
        turn = self.turn
        assert turn is not None
        ahead = turn.speculation
        if ahead is not None and speech_end is not None and ahead.speech_end == speech_end:
            job, seconds = ahead.task, ahead.seconds
        else:
            audio = self.timeline.slice(turn.start, end)
            job, seconds = self._spawn(self._transcribe(audio)), len(audio) / SAMPLE_RATE
        self.emit(server_event("input_audio_buffer.committed", item_id=turn.item_id,
                               previous_item_id=self.last_item))
        self.last_item, self.turn, self.heard_speech = turn.item_id, None, False
        self.timeline.drop_before(end)
        previous = self._previous_final
        self._previous_final = self._spawn(self._final(turn, job, seconds, previous))

    def _clear(self) -> None:
        self.turn, self.heard_speech = None, False
        self.detector.reset()
        self.timeline.drop_before(self.timeline.end)
        self.emit(server_event("input_audio_buffer.cleared"))

    # -- drafts and finals -------------------------------------------------------------------------------

    def _maybe_speculate(self) -> None:
        """A pause in an open server_vad turn: transcribe the turn so far now, so that if the pause turns out
        to end it, the final is (nearly) ready when the silence is confirmed. Speech that resumes makes the
        result stale; it is dropped."""
        turn = self.turn
        if turn is None or self.config.turn_detection is None or self._speculating:
            return
        if self.detector.paused_ms < SPECULATE_MS:
            return
        speech_end = self.detector.speech_end
        if turn.speculation is not None and turn.speculation.speech_end == speech_end:
            return
        audio = self.timeline.slice(turn.start, min(speech_end + int(SUFFIX_S * SAMPLE_RATE), self.timeline.end))
        self._speculating = True

        async def run() -> Transcript:
            try:
                return await self._transcribe(audio)
            finally:
                self._speculating = False

        task = self._spawn(run())
        task.add_done_callback(_retrieve)
        turn.speculation = Speculation(speech_end, len(audio) / SAMPLE_RATE, task)

    def _maybe_draft(self) -> None:
        turn = self.turn
        if turn is None or self._drafting or self._speculating:
            return
        if self.config.turn_detection is None and not self.heard_speech:
            return
        length = (self.timeline.end - turn.start) / SAMPLE_RATE
        if length > MAX_DRAFT_S or (self.timeline.end - turn.drafted_to) / SAMPLE_RATE < self.settings.draft_interval_s:
            return
        if length < self.settings.draft_interval_s + 0.3:  # too little to say anything yet
            return
        turn.drafted_to = self.timeline.end
        self._drafting = True
        self._spawn(self._draft(turn, self.timeline.slice(turn.start, self.timeline.end)))

    async def _draft(self, turn: Turn, audio: np.ndarray) -> None:
        try:
            text = await anyio.to_thread.run_sync(self.service.draft, audio, self.draft_request)
        except Exception:  # a draft is only a preview: the final decode still runs
            log.exception("a realtime draft failed")
            return
        finally:
            self._drafting = False
        if self.turn is turn:
            delta = turn.prefix.offer(text)
            if delta:
                self.emit(server_event("conversation.item.input_audio_transcription.delta", item_id=turn.item_id,
                                       content_index=0, delta=delta))

    async def _transcribe(self, audio: np.ndarray) -> Transcript:
        return await anyio.to_thread.run_sync(self.service.transcribe, audio, self.request)

    async def _final(self, turn: Turn, job: asyncio.Task[Transcript], seconds: float,
                     previous: asyncio.Task[None] | None) -> None:
        try:
            transcript: Transcript | None = await job
            failure: BaseException | None = None
        except Exception as exc:
            log.exception("transcribing realtime item %s failed", turn.item_id)
            transcript, failure = None, exc
        if previous is not None:  # items complete in the order they were committed
            await asyncio.shield(previous)
        if transcript is None:
            message = failure.message if isinstance(failure, APIError) else "transcription failed"
            self.emit(server_event("conversation.item.input_audio_transcription.failed", item_id=turn.item_id,
                                   content_index=0, error={"type": "server_error", "code": "transcription_failed",
                                                           "message": message, "param": None}))
            return
        text = transcript.text.strip()
        delta = turn.prefix.finish(text)
        if delta:
            self.emit(server_event("conversation.item.input_audio_transcription.delta", item_id=turn.item_id,
                                   content_index=0, delta=delta))
        self.emit(server_event("conversation.item.input_audio_transcription.completed", item_id=turn.item_id,
                               content_index=0, transcript=text,
                               usage={"type": "duration", "seconds": round(seconds, 3)},
                               languages=languages(transcript)))
        self.turns_completed += 1
        await self.completed(turn.item_id, text, transcript.language, seconds)

    # -- what a session built on this one does with the turns (a pipeline conversation answers them) ----

    def speech_started(self) -> None:
        """A turn began (server_vad)."""

    async def completed(self, item_id: str, text: str, language: str | None, seconds: float) -> None:
        """A turn's final transcript is out."""

    # -- plumbing ----------------------------------------------------------------------------------------

    def emit(self, event: dict[str, object]) -> None:
        if self.overflowed.is_set():
            return
        try:
            self.events.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed.set()

    def _spawn(self, work: Awaitable[T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait for committed items to be transcribed (the client closed after its last commit)."""
        if self._previous_final is not None:
            await asyncio.shield(self._previous_final)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
