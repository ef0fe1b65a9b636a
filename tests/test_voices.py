"""Kokoro beside Piper (issue 12, first part): the voice list, and Kokoro voices that speak what they are
given (round trip through Whisper), at the speed asked for."""

from __future__ import annotations

import io

import openai
import pytest

from tests.conftest import LiveServer
from tests.helpers import decode, wer

TEXT = ("The library opens at nine in the morning, and the reading room stays quiet until the school bus "
        "arrives in the afternoon.")


def test_the_voice_list_has_every_voice_of_every_speech_model(server: LiveServer) -> None:
    with server.http() as http:
        voices = http.get("/v1/audio/voices").json()
        kokoro = http.get("/v1/audio/voices", params={"model": "kokoro"}).json()["data"]
        unknown = http.get("/v1/audio/voices", params={"model": "nope"})
    ids = {(v["model"], v["id"]) for v in voices["data"]}
    assert voices["object"] == "list" and ("piper-joe", "joe") in ids and len(kokoro) == 54
    assert all(v["object"] == "audio.voice" and set(v) == {"id", "object", "model", "name", "language", "gender"}
               for v in voices["data"])
    heart = next(v for v in kokoro if v["id"] == "af_heart")
    assert (heart["language"], heart["gender"]) == ("en", "female")
    assert {v["language"] for v in kokoro} >= {"en", "es", "fr", "hi", "it", "ja", "pt", "zh"}
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize("voice", ["af_heart", "bm_fable", "nova", "onyx"])
def test_kokoro_voices_say_what_they_are_given(client: openai.OpenAI, voice: str) -> None:
    audio = client.audio.speech.create(model="kokoro", voice=voice, input=TEXT, response_format="wav").content
    decoded = decode(audio)
    assert decoded.sample_rate == 24000 and 4 < decoded.duration < 15
    text = client.audio.transcriptions.create(model="whisper-1", file=("k.wav", io.BytesIO(audio))).text
    assert wer(TEXT, text) <= 0.05, text


def test_kokoro_honours_speed(client: openai.OpenAI) -> None:
    normal = decode(client.audio.speech.create(model="kokoro", voice="af_heart", input=TEXT,
                                               response_format="wav").content).duration
    fast = decode(client.audio.speech.create(model="kokoro", voice="af_heart", input=TEXT, speed=2.0,
                                             response_format="wav").content).duration
    assert fast < normal * 0.7
