"""POST /v1/audio/speech through the official SDK: every format decodes to the expected rate and length."""

from __future__ import annotations

import base64
import json
import time

import httpx
import openai
import pytest

from tests.conftest import LiveServer
from tests.helpers import decode, wer

SENTENCE = "The quick brown fox jumps over the lazy dog. Voxgate speaks every format."
PARAGRAPH = (
    "Open models for recognizing speech have improved a great deal over the last few years, and they now run "
    "on ordinary computers without a network connection. This paragraph checks that the words we synthesize "
    "come back from the recognizer in the same order and with very few mistakes."
)


@pytest.fixture(scope="module")
def reference_wav(client: openai.OpenAI) -> bytes:
    return client.audio.speech.create(model="tts-1", voice="alloy", input=SENTENCE, response_format="wav").content


@pytest.mark.parametrize("fmt,codec,rate", [
    ("mp3", "mp3", 24000), ("opus", "opus", 48000), ("aac", "aac", 24000),
    ("flac", "flac", 24000), ("wav", "pcm_s16le", 24000),
])
def test_speech_formats_decode(client: openai.OpenAI, reference_wav: bytes, fmt: str, codec: str, rate: int) -> None:
    expected = decode(reference_wav).duration
    audio = client.audio.speech.create(model="tts-1", voice="alloy", input=SENTENCE, response_format=fmt).content
    decoded = decode(audio)
    assert decoded.codec in (codec, codec + "float") and decoded.sample_rate == rate
    assert decoded.channels == 1
    # Piper's VITS duration predictor is stochastic: lengths of two syntheses differ by a few percent.
    assert abs(decoded.duration - expected) < 0.1 * expected, (fmt, decoded.duration, expected)
    assert float(abs(decoded.samples).max()) > 0.1  # not silence


def test_speech_pcm_is_24k_s16le(client: openai.OpenAI, reference_wav: bytes) -> None:
    pcm = client.audio.speech.create(model="tts-1", voice="alloy", input=SENTENCE, response_format="pcm").content
    wav = decode(reference_wav)
    assert len(pcm) % 2 == 0
    assert abs(len(pcm) / 2 / 24000 - wav.duration) < 0.1 * wav.duration


def test_speech_content_types(server: LiveServer) -> None:
    types = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
             "wav": "audio/wav", "pcm": "audio/pcm"}
    with server.http() as http:
        for fmt, ctype in types.items():
            r = http.post("/v1/audio/speech", json={"model": "tts-1", "input": "Hi there.", "voice": "echo",
                                                    "response_format": fmt})
            assert r.status_code == 200 and r.headers["content-type"].startswith(ctype)


def test_speech_round_trip_wer(client: openai.OpenAI) -> None:
    audio = client.audio.speech.create(model="tts-1", voice="nova", input=PARAGRAPH, response_format="mp3").content
    text = client.audio.transcriptions.create(model="whisper-1", file=("speech.mp3", audio)).text
    assert wer(PARAGRAPH, text) <= 0.05, text


def test_speech_voices_resolve(client: openai.OpenAI) -> None:
    for voice in ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
                  "marin", "cedar", "joe"):
        audio = client.audio.speech.create(model="piper-joe", voice=voice, input="Yes.", response_format="wav")
        assert decode(audio.content).duration > 0.2


def test_speech_voice_object_and_extras(server: LiveServer) -> None:
    with server.http() as http:
        r = http.post("/v1/audio/speech", json={"model": "piper-joe", "input": "Hello.", "voice": {"id": "joe"},
                                                "instructions": "Speak calmly.", "response_format": "wav"},
                      headers={"Accept": "application/octet-stream"})
        assert r.status_code == 200 and decode(r.content).duration > 0.3
        bad = http.post("/v1/audio/speech", json={"model": "kokoro", "input": "Hello.", "voice": "alloy",
                                                  "reference_audio": "not audio"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "reference_audio"


def test_speech_speed_changes_length(client: openai.OpenAI) -> None:
    normal = decode(client.audio.speech.create(model="tts-1", voice="alloy", input=SENTENCE,
                                               response_format="wav").content)
    fast = decode(client.audio.speech.create(model="tts-1", voice="alloy", input=SENTENCE, response_format="wav",
                                             speed=2.0).content)
    assert fast.duration < normal.duration * 0.7


def test_speech_sse(server: LiveServer) -> None:
    with server.http() as http:
        r = http.post("/v1/audio/speech", json={"model": "tts-1", "input": SENTENCE, "voice": "alloy",
                                                "response_format": "mp3", "stream_format": "sse"},
                      headers={"Accept": "application/octet-stream"})
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert deltas and events[-1]["type"] == "speech.audio.done"
    assert events[-1]["usage"]["input_tokens"] > 0
    audio = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert decode(audio).duration > 2.0


def test_speech_streams_before_synthesis_ends(server: LiveServer) -> None:
    """With a long input the first bytes arrive long before the whole text could be synthesised."""
    text = " ".join([PARAGRAPH] * 4)[:1000]
    client = server.client()
    started = time.perf_counter()
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input=text,
                                                             response_format="mp3") as response:
        chunks = response.iter_bytes()
        first = next(iter(chunks))
        first_byte = time.perf_counter() - started
        rest = b"".join(chunks)
    total = time.perf_counter() - started
    assert first and rest
    assert first_byte < total / 3, (first_byte, total)
    assert decode(first + rest).duration > 40


@pytest.mark.parametrize("body,param", [
    ({"model": "tts-1", "input": "", "voice": "alloy"}, "input"),
    ({"model": "tts-1", "input": "x" * 4097, "voice": "alloy"}, "input"),
    ({"model": "tts-1", "input": "hi", "voice": "nobody"}, "voice"),
    ({"model": "tts-1", "input": "hi", "voice": "alloy", "speed": 4.5}, "speed"),
    ({"model": "tts-1", "input": "hi", "voice": "alloy", "speed": 0.1}, "speed"),
    ({"model": "tts-1", "input": "hi", "voice": "alloy", "response_format": "ogg"}, "response_format"),
    ({"model": "tts-1", "input": "hi", "voice": "alloy", "stream_format": "chunks"}, "stream_format"),
    ({"model": "whisper-1", "input": "hi", "voice": "alloy"}, "model"),
    ({"input": "hi", "voice": "alloy"}, "model"),
])
def test_speech_bad_input_is_400(server: LiveServer, body: dict[str, object], param: str) -> None:
    with server.http() as http:
        r = http.post("/v1/audio/speech", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert set(err) >= {"message", "type", "param", "code"} and err["param"] == param and err["message"]


def test_speech_unknown_model_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.audio.speech.create(model="no-such-model", voice="alloy", input="hi")
    assert info.value.code == "model_not_found"
    assert info.value.request_id and info.value.request_id.startswith("req_")


def test_speech_unknown_voice_lists_valid(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.speech.create(model="tts-1", voice="bogus", input="hi")
    assert "alloy" in info.value.message and "joe" in info.value.message


def test_speech_malformed_json_400(server: LiveServer) -> None:
    with server.http() as http:
        r = http.post("/v1/audio/speech", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_speech_requires_auth(server: LiveServer) -> None:
    r = httpx.post(f"{server.base_url}/audio/speech", json={"model": "tts-1", "input": "hi", "voice": "alloy"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.base_url, api_key="wrong", max_retries=0).audio.speech.create(
            model="tts-1", voice="alloy", input="hi")
