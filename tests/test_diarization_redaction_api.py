"""Diarization and PII redaction through the live server and the official SDK, on real audio."""

from __future__ import annotations

import base64
import json
import re
import sqlite3

import openai
import pytest

from tests.conftest import LiveServer
from tests.helpers import DATA, wer

CONVERSATION = DATA / "diarize_two_voices.wav"
TRUTH = json.loads((DATA / "diarize_two_voices.json").read_text())["turns"]
PII_TEXT = ("Hello, my name is Maria Gonzalez. You can email me at maria dot gonzalez at example dot com. "
            "My phone number is five five five, eight six seven, five three zero nine. "
            "The card number is 4111 1111 1111 1111. Thanks a lot.")
PII_SUBSTRINGS = ("maria", "gonzalez", "example", "867", "5309", "1111", "five five five", "eight six seven")


def _data_url(path: str) -> str:
    return "data:audio/wav;base64," + base64.b64encode((DATA / path).read_bytes()).decode()


def _changes(segments: list[tuple[float, float, str]]) -> list[float]:
    """Times where the speaker changes between consecutive segments (middle of the gap)."""
    return [(a[1] + b[0]) / 2 for a, b in zip(segments, segments[1:]) if a[2] != b[2]]


@pytest.fixture(scope="module")
def diarized(client: openai.OpenAI) -> openai.types.audio.TranscriptionVerbose:
    return client.audio.transcriptions.create(model="whisper-1", file=CONVERSATION.open("rb"),
                                              response_format="verbose_json", timestamp_granularities=["word"],
                                              extra_body={"diarize": True})


def test_diarize_verbose_json_speakers_and_turns(diarized: openai.types.audio.TranscriptionVerbose) -> None:
    segs = [s.model_dump() for s in diarized.segments or []]
    speakers = [s["speaker"] for s in segs]
    assert sorted(set(speakers)) == ["Speaker 1", "Speaker 2"] and speakers[0] == "Speaker 1"
    found = _changes([(s["start"], s["end"], s["speaker"]) for s in segs])
    truth = [(a["end"] + b["start"]) / 2 for a, b in zip(TRUTH, TRUTH[1:])]
    assert len(found) == len(truth), (found, truth)
    assert all(abs(f - t) <= 0.5 for f, t in zip(found, truth)), (found, truth)
    words = [w.model_dump() for w in diarized.words or []]
    assert words and all(w["speaker"] in ("Speaker 1", "Speaker 2") for w in words)
    assert wer(" ".join(t["text"] for t in TRUTH), diarized.text) <= 0.1


def test_diarized_json_parses_with_sdk(client: openai.OpenAI) -> None:
    result = client.audio.transcriptions.create(model="whisper-1", file=CONVERSATION.open("rb"),
                                                response_format="diarized_json")
    assert isinstance(result, openai.types.audio.TranscriptionDiarized)
    assert [s.speaker for s in result.segments][:2] == ["A", "B"]
    assert {s.speaker for s in result.segments} == {"A", "B"}
    assert all(s.type == "transcript.text.segment" and s.id.startswith("seg_") for s in result.segments)
    assert result.usage is not None and result.duration > 25


def test_known_speaker_references_name_the_speakers(client: openai.OpenAI) -> None:
    result = client.audio.transcriptions.create(
        model="whisper-1", file=CONVERSATION.open("rb"), response_format="diarized_json",
        known_speaker_names=["reader", "joe"],
        known_speaker_references=[_data_url("ref_speaker_a.wav"), _data_url("ref_speaker_b.wav")])
    by_truth = {"A": "reader", "B": "joe"}
    for seg in result.segments:
        mid = (seg.start + seg.end) / 2
        turn = min(TRUTH, key=lambda t: 0 if t["start"] <= mid <= t["end"] else min(abs(mid - t["start"]),
                                                                                      abs(mid - t["end"])))
        assert seg.speaker == by_truth[turn["speaker"]], (seg, turn)


def test_diarized_text_formats_prefix_speakers(client: openai.OpenAI) -> None:
    text = client.audio.transcriptions.create(model="whisper-1", file=CONVERSATION.open("rb"),
                                              response_format="text", extra_body={"diarize": True})
    assert text.startswith("Speaker 1: ") and "\nSpeaker 2: " in text
    srt = client.audio.transcriptions.create(model="whisper-1", file=CONVERSATION.open("rb"),
                                             response_format="srt", extra_body={"diarize": True})
    assert re.search(r"\nSpeaker 2: ", srt)
    vtt = client.audio.transcriptions.create(model="whisper-1", file=CONVERSATION.open("rb"),
                                             response_format="vtt", extra_body={"diarize": True})
    assert "<v Speaker 1>" in vtt and "<v Speaker 2>" in vtt


def test_diarized_stream_emits_segments(client: openai.OpenAI) -> None:
    events = list(client.audio.transcriptions.create(model="whisper-1", file=CONVERSATION.open("rb"),
                                                     response_format="diarized_json", stream=True))
    segments = [e for e in events if e.type == "transcript.text.segment"]
    deltas = [e for e in events if e.type == "transcript.text.delta"]
    assert {s.speaker for s in segments} == {"A", "B"}
    assert deltas and all(d.segment_id in {s.id for s in segments} for d in deltas)
    assert events[-1].type == "transcript.text.done"


@pytest.mark.parametrize("field,value", [
    ("known_speaker_names[]", "solo"),  # a name without a reference
    ("redact", "ssn"),
    ("min_speakers", "0"),
])
def test_bad_enrichment_fields_400(server: LiveServer, field: str, value: str) -> None:
    with server.http() as http:
        r = http.post("/v1/audio/transcriptions", data={"model": "whisper-1", field: value},
                      files={"file": ("a.wav", (DATA / "ref_speaker_a.wav").read_bytes())})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] in (field.removesuffix("[]"), "known_speaker_references")


def test_reference_clip_too_short_400(server: LiveServer) -> None:
    short = base64.b64encode((DATA / "librivox" / "sense_and_sensibility_01_austen_64kb-0880.wav").read_bytes()[:20000])
    with server.http() as http:
        r = http.post("/v1/audio/transcriptions", data={
            "model": "whisper-1", "known_speaker_names[]": "x",
            "known_speaker_references[]": "data:audio/wav;base64," + short.decode()},
            files={"file": ("a.wav", CONVERSATION.read_bytes())})
    assert r.status_code == 400 and "2-10 s" in r.json()["error"]["message"]


@pytest.fixture(scope="module")
def pii_audio(client: openai.OpenAI) -> bytes:
    return client.audio.speech.create(model="tts-1", voice="alloy", input=PII_TEXT, response_format="wav").content


@pytest.mark.parametrize("fmt", ["json", "text", "srt", "vtt", "verbose_json"])
def test_redaction_leaves_no_pii_in_any_format(client: openai.OpenAI, pii_audio: bytes, fmt: str) -> None:
    result = client.audio.transcriptions.create(model="whisper-1", file=pii_audio, response_format=fmt,  # type: ignore[call-overload]
                                                timestamp_granularities=["word", "segment"],
                                                extra_body={"redact": True})
    body = result if isinstance(result, str) else result.model_dump_json()
    lowered = body.lower()
    leaked = [p for p in PII_SUBSTRINGS if p in lowered]
    assert not leaked, (leaked, body)
    for placeholder in ("[REDACTED_NAME]", "[REDACTED_EMAIL]", "[REDACTED_PHONE]", "[REDACTED_CARD]"):
        assert placeholder in body, (placeholder, body)
    if fmt == "verbose_json":
        words = result.words  # type: ignore[union-attr]
        redacted = [w for w in words if w.word.startswith("[REDACTED_")]
        assert redacted and all(w.end > w.start for w in redacted)
        starts = [w.start for w in words]
        assert starts == sorted(starts)


def test_redact_categories_subset(client: openai.OpenAI, pii_audio: bytes) -> None:
    result = client.audio.transcriptions.create(model="whisper-1", file=pii_audio,
                                                extra_body={"redact": ["email", "phone"]})
    assert "[REDACTED_EMAIL]" in result.text and "[REDACTED_PHONE]" in result.text
    assert "[REDACTED_NAME]" not in result.text and "Maria" in result.text


def test_unredacted_text_is_never_stored_or_logged(server: LiveServer, pii_audio: bytes) -> None:
    client = server.client()
    stream = client.audio.transcriptions.create(model="whisper-1", file=pii_audio, stream=True,
                                                extra_body={"redact": True},
                                                extra_headers={"Idempotency-Key": "pii-stream-1"})
    events = list(stream)
    done = events[-1]
    assert done.type == "transcript.text.done" and "[REDACTED_PHONE]" in done.text
    streamed = "".join(e.delta for e in events if e.type == "transcript.text.delta").lower()
    assert not [p for p in PII_SUBSTRINGS if p in streamed], streamed
    client.audio.transcriptions.create(model="whisper-1", file=pii_audio, response_format="verbose_json",
                                       extra_body={"redact": True}, extra_headers={"Idempotency-Key": "pii-2"})
    db = sqlite3.connect(server.data_dir / "voxgate.sqlite3")
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        values = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                  for t in tables for row in db.execute(f'SELECT * FROM "{t}"') for v in row]
    finally:
        db.close()
    dump = "\n".join(values).lower()
    assert "redacted_phone" in dump  # the stored idempotent responses are there, redacted
    log = server.log().lower()
    for secret in ("gonzal", r"\b5309\b", "maria"):  # digits as a whole word: hex hashes hold any 4 digits
        assert not re.search(secret, dump), secret
        assert not re.search(secret, log), secret
