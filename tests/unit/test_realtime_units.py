"""The realtime session's parts without a server: event parsing and session.update, growing-only deltas, the
timeline's bounds, input audio in every format, and a slow reader's cap."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from voxgate.config import AsrSettings, RealtimeSettings
from voxgate.models.catalog import Catalog
from voxgate.models.registry import ModelRegistry
from voxgate.realtime import RealtimeError, TranscriptionSession, new_session, parse_event
from voxgate.realtime.audio import InputAudio
from voxgate.realtime.drafts import StablePrefix
from voxgate.realtime.protocol import CONVERSATION_EVENTS, apply_update
from voxgate.realtime.session import Timeline
from voxgate.transcription import TranscriptionService


def test_client_events_are_parsed_or_named_errors() -> None:
    assert parse_event(json.dumps({"type": "input_audio_buffer.commit", "event_id": "e1"})).event_id == "e1"
    for message, code in [("{", "invalid_json"), ("[1]", "invalid_event"), ('{"type": 3}', "invalid_event"),
                          ('{"type": "response.create"}', "unknown_event")]:
        with pytest.raises(RealtimeError) as exc:
            parse_event(message)
        assert exc.value.code == code
    assert parse_event('{"type": "response.cancel"}', CONVERSATION_EVENTS).type == "response.cancel"


def test_session_update_applies_all_or_nothing() -> None:
    config = new_session("whisper-1", 3600)
    updated = apply_update(config, {"type": "transcription", "audio": {"input": {
        "format": {"type": "audio/pcmu"}, "turn_detection": {"type": "server_vad", "silence_duration_ms": 800},
        "transcription": {"language": "fr"}}}}, None)
    assert updated.format == "audio/pcmu" and updated.rate == 8000
    assert updated.turn_detection is not None and updated.turn_detection.silence_duration_ms == 800
    assert updated.transcription.language == "fr" and updated.transcription.model == "whisper-1"
    assert apply_update(updated, {"audio": {"input": {"turn_detection": None}}}, None).turn_detection is None
    semantic = apply_update(config, {"audio": {"input": {"turn_detection": {"type": "semantic_vad",
                                                                             "eagerness": "high"}}}}, None)
    assert semantic.turn_detection is not None and semantic.turn_detection.silence_duration_ms == 350
    for bad, param in [
        ({"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}, "session.audio.input.format.rate"),
        ({"audio": {"input": {"noise_reduction": {"type": "near_field"}}}}, "session.audio.input.noise_reduction"),
        ({"include": ["item.input_audio_transcription.logprobs"]}, "session.include"),
        ({"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 2}}}},
         "session.audio.input.turn_detection.threshold"),
        ({"audio": {"input": {"transcription": {"language": "en", "languages": ["en"]}}}},
         "session.audio.input.transcription.languages"),
    ]:
        with pytest.raises(RealtimeError) as exc:
            apply_update(config, bad, "evt")
        assert exc.value.param == param and exc.value.event_id == "evt"
    with pytest.raises(RealtimeError) as exc:  # a pipeline decides its voice
        apply_update(config, {"type": "realtime", "audio": {"output": {"voice": "nova"}}}, None, conversation=True)
    assert exc.value.code == "unsupported_value" and exc.value.param == "session.audio.output"


def test_deltas_only_grow_and_finish_the_transcript() -> None:
    prefix = StablePrefix()
    assert prefix.offer("The quick") == ""
    assert prefix.offer("The quick brown") == "The quick"
    assert prefix.offer("the quick, brown fox") == " brown"  # case and commas do not unsettle a word
    assert prefix.offer("The quack") == ""  # a draft that contradicts what was sent adds nothing
    assert prefix.finish("The quick brown fox jumps.") == " fox jumps."
    assert prefix.text() == "The quick brown fox jumps."
    other = StablePrefix()
    other.offer("I'd less")
    other.offer("I'd less to be")
    assert other.finish("Unless to be rather cold") == ""  # the completed transcript is the one to keep


def test_the_timeline_keeps_only_what_is_asked() -> None:
    line = Timeline()
    for i in range(5):
        line.append(np.full(100, i, dtype=np.float32))
    assert line.end == 500 and line.slice(150, 250).tolist() == [1.0] * 50 + [2.0] * 50
    line.drop_before(320)
    assert line.start == 320 and len(line.slice(0, 500)) == 180 and line.slice(0, 400)[0] == 3.0


@pytest.mark.parametrize("fmt", ["audio/pcm", "audio/pcmu", "audio/pcma"])
def test_input_audio_becomes_16_khz(fmt: str) -> None:
    rate = 24000 if fmt == "audio/pcm" else 8000
    audio = InputAudio(fmt, rate)
    width = 2 if fmt == "audio/pcm" else 1
    one_second = bytes(rate * width)
    pieces = [audio.feed(one_second[i:i + 999]) for i in range(0, len(one_second), 999)]  # odd-sized pieces
    total = sum(len(p) for p in pieces)
    assert abs(total - 16000) < 64 and audio.seconds(one_second) == 1.0


def test_a_slow_reader_overflows_instead_of_growing(tmp_path: Path) -> None:
    service = TranscriptionService(Catalog.load(), ModelRegistry(tmp_path), AsrSettings(), 2, tmp_path)
    settings = RealtimeSettings(max_pending_events=16)

    async def run() -> TranscriptionSession:
        session = TranscriptionSession(service, settings, new_session("whisper-1", 60))
        for _ in range(40):
            await session.handle(parse_event(json.dumps({"type": "input_audio_buffer.clear"})))
        return session

    session = asyncio.run(run())
    assert session.overflowed.is_set() and session.events.qsize() == 16
