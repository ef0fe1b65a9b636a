"""Kokoro beside Piper (issue 12, first part): the voice list, and Kokoro voices that speak what they are
given (round trip through Whisper), at the speed asked for."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from tests.conftest import MODEL_CACHE, LiveServer
from tests.helpers import decode, wav_bytes, wer
from tests.test_gateway import new_key
from voxgate.diarize.embedding import SpeakerEmbedder
from voxgate.voicematch import load_reference

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


@pytest.mark.parametrize("voice", ["af_heart", "bm_fable"])  # every name is heard back in bench/bench_tts.py
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


# -- issue 12, the rest: distinct OpenAI names, blends, languages, pace, custom voices ---------------------------

OPENAI_NAMES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
                "marin", "cedar")
SHORT = "Please call Stella and ask her."  # two seconds: enough for the speaker embedder
REFERENCE = Path(__file__).parent / "data" / "librivox" / "sense_and_sensibility_01_austen_64kb-0870.wav"


def _embed(audio: bytes) -> np.ndarray:
    decoded = decode(audio)
    samples = decoded.samples / 32768.0 if decoded.codec.startswith("pcm_s16") else decoded.samples
    return SpeakerEmbedder(threads=2).embed(samples, decoded.sample_rate)


def _speak(http: httpx.Client, **body: Any) -> httpx.Response:
    return http.post("/v1/audio/speech", json={"model": "tts-1-hd", "input": SHORT, "response_format": "wav", **body})


def test_every_language_speaks_and_the_13_openai_names_are_13_speakers(server: LiveServer) -> None:
    """A voice of each model, language and gender speaks in its own language (audio of the expected length,
    decoded back with PyAV; bench/bench_tts.py hears every one of the 55 back through Whisper); the 13 OpenAI
    names are 13 different Kokoro voices, and 13 different speakers to the speaker embedder."""
    words = {"en": "Thank you.", "es": "Muchas gracias.", "fr": "Merci beaucoup.", "hi": "धन्यवाद।",
             "it": "Grazie mille.", "ja": "ありがとう。", "pt": "Muito obrigado.", "zh": "谢谢你。"}
    with server.http() as http:
        spoken = {name: _speak(http, voice=name) for name in OPENAI_NAMES}
        twice = _speak(http, voice="alloy")
        natives = {r.headers["x-voxgate-voice"] for r in spoken.values()}
        voices = http.get("/v1/audio/voices").json()["data"]
        assert len(voices) >= 55
        kinds = {(v["model"], v["language"], v["gender"]) for v in voices if v["id"] in natives}  # heard above
        for voice in voices:
            kind = (voice["model"], voice["language"], voice["gender"])
            if kind in kinds:
                continue
            kinds.add(kind)
            r = http.post("/v1/audio/speech", json={"model": voice["model"], "voice": voice["id"],
                                                    "input": words[voice["language"]], "response_format": "flac"})
            assert r.status_code == 200, (voice["id"], r.text)
            decoded = decode(r.content)
            assert decoded.sample_rate == 24000 and 0.3 < decoded.duration < 3.0, (voice["id"], decoded.duration)
    assert {r.status_code for r in [*spoken.values(), twice]} == {200} and len(natives) == 13
    assert all(1.5 < decode(r.content).duration < 6.0 for r in spoken.values())
    vectors = np.stack([_embed(r.content) for r in spoken.values()])
    cross = vectors @ vectors.T
    np.fill_diagonal(cross, -1.0)
    # One voice saying the same words twice is one speaker to the embedder (cosine 1); no two names come close.
    assert float(_embed(twice.content) @ vectors[0]) > 0.99
    assert cross.max() < 0.95, cross.max()


def test_blends_mix_voices_by_weight(server: LiveServer) -> None:
    with server.http() as http:
        bella, sky = _speak(http, voice="af_bella"), _speak(http, voice="af_sky")
        mixed = _speak(http, voice="af_bella(2)+af_sky(1)")
        named = _speak(http, voice="coral(1)+nova(1)")  # OpenAI names work inside a blend
        bad = {text: _speak(http, voice=text) for text in ("af_bella(2)+nobody(1)", "af_bella(x)", "a+b+c+d+e+f+g+h+i")}
        piper = _speak(http, model="tts-1", voice="af_bella(2)+af_sky(1)")
    assert mixed.status_code == 200 and mixed.headers["x-voxgate-voice"] == "af_bella(0.667)+af_sky(0.333)"
    assert named.status_code == 200 and named.headers["x-voxgate-voice"] == "af_bella(0.5)+af_nova(0.5)"
    assert 1.0 < decode(mixed.content).duration < 8.0
    b, s, m = (_embed(r.content) for r in (bella, sky, mixed))
    assert float(m @ b) > float(s @ b) and float(m @ s) > float(b @ s)  # between its parts, nearer to both
    assert float(m @ b) > float(m @ s)  # and nearer to the heavier one
    for response in (*bad.values(), piper):
        assert response.status_code == 400 and response.json()["error"]["param"] == "voice", response.text


def test_language_override_and_pace_words(server: LiveServer, client: openai.OpenAI) -> None:
    spanish = "Buenos días, me llamo Dora y vivo en una casa pequeña cerca del mar."
    with server.http() as http:
        own = _speak(http, voice="ef_dora", input=spanish)
        told = _speak(http, voice="af_heart", input=spanish, language="es")
        unknown = _speak(http, voice="af_heart", language="xx")
        piper = _speak(http, model="tts-1", voice="alloy", language="es")
        plain = decode(_speak(http, voice="af_heart").content).duration
        slow = decode(_speak(http, voice="af_heart", instructions="Read this very slowly.").content).duration
        quick = decode(_speak(http, voice="af_heart", instructions="Say it quickly, please.").content).duration
    for audio in (own, told):
        assert audio.status_code == 200
        text = client.audio.transcriptions.create(model="whisper-1", file=("es.wav", io.BytesIO(audio.content)),
                                                  language="es").text
        assert wer(spanish, text) <= 0.15, text
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "unsupported_language"
    assert piper.status_code == 400 and piper.json()["error"]["param"] == "language"
    assert slow > plain * 1.2 and quick < plain * 0.95, (plain, slow, quick)


def test_custom_voice_is_matched_owned_used_and_deleted(server: LiveServer, client: openai.OpenAI) -> None:
    sample = REFERENCE.read_bytes()
    voice = client.audio.voices.create(name="Reader", consent="cons_reader_2026", audio_sample=("ref.wav", sample))
    assert voice.id.startswith("voice_") and voice.object == "audio.voice" and voice.name == "Reader"
    extra = voice.model_extra or {}
    assert extra["model"] == "kokoro" and extra["similarity"] > 0
    listed = {v["id"]: v for v in server.http().get("/v1/audio/voices").json()["data"]}
    assert listed[voice.id]["matched_voice"] == extra["matched_voice"]

    custom = client.audio.speech.create(model="gpt-4o-mini-tts", voice={"id": voice.id}, input=SHORT,
                                        response_format="wav").content
    default = client.audio.speech.create(model="kokoro", voice="alloy", input=SHORT, response_format="wav").content
    assert 1.5 < decode(custom).duration < 6
    reference = load_reference(sample, 3, 30).audio
    target = SpeakerEmbedder(threads=2).embed(reference, 16000)
    assert float(_embed(custom) @ target) > float(_embed(default) @ target)  # the match beats the default voice

    # the same clip on the fly: matched once, so it is the same voice (and fast)
    with server.http() as http:
        clip = "data:audio/wav;base64," + base64.b64encode(sample).decode()
        inline = _speak(http, voice="alloy", reference_audio=clip)
        on_piper = _speak(http, model="tts-1", voice={"id": voice.id})
    assert inline.status_code == 200 and inline.headers["x-voxgate-voice"] == extra["matched_voice"]
    assert on_piper.status_code == 400 and on_piper.json()["error"]["code"] == "invalid_voice"

    _, other_key = new_key(server)
    with httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {other_key}"}, timeout=60) as other:
        assert other.get(f"/v1/audio/voices/{voice.id}").status_code == 404
        assert _speak(other, voice={"id": voice.id}).json()["error"]["code"] == "voice_not_found"
        assert voice.id not in {v["id"] for v in other.get("/v1/audio/voices").json()["data"]}
    deleted = client.audio.voices.delete(voice.id)
    assert deleted.deleted and deleted.id == voice.id
    with server.http() as http:
        assert http.get(f"/v1/audio/voices/{voice.id}").status_code == 404
        assert _speak(http, voice={"id": voice.id}).status_code == 404


def test_bad_samples_get_clear_errors(server: LiveServer) -> None:
    reference = load_reference(REFERENCE.read_bytes(), 3, 30).audio
    cases = {
        "short": ({"name": "x", "consent": "yes"}, wav_bytes(reference[:16000])),
        "silent": ({"name": "x", "consent": "yes"}, wav_bytes(np.zeros(16000 * 5))),
        "long": ({"name": "x", "consent": "yes"}, wav_bytes(np.tile(reference, 6)[:16000 * 40])),
        "not audio": ({"name": "x", "consent": "yes"}, b"this is not audio at all" * 100),
        "no consent": ({"name": "x"}, wav_bytes(reference)),
        "no name": ({"consent": "yes"}, wav_bytes(reference)),
        "prompt": ({"name": "x", "consent": "yes", "type": "prompt"}, wav_bytes(reference)),
    }
    expected = {"short": "audio_sample", "silent": "audio_sample", "long": "audio_sample",
                "not audio": "audio_sample", "no consent": "consent", "no name": "name", "prompt": "type"}
    with server.http() as http:
        for case, (fields, data) in cases.items():
            r = http.post("/v1/audio/voices", data=fields, files={"audio_sample": ("s.wav", data, "audio/wav")})
            assert r.status_code == 400, (case, r.text)
            assert r.json()["error"]["param"] == expected[case], (case, r.text)
        missing = http.post("/v1/audio/voices", data={"name": "x", "consent": "yes"})
        huge = http.post("/v1/audio/voices", data={"name": "x", "consent": "yes"},
                         files={"audio_sample": ("s.wav", b"\0" * (11 * 1024 * 1024), "audio/wav")})
        assert http.get("/v1/audio/voices/voice_nope").status_code == 404
        assert http.delete("/v1/audio/voices/voice_nope").json()["error"]["code"] == "voice_not_found"
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "missing_file"
    assert huge.status_code == 413


def test_sdk_voices_list_create_delete(server: LiveServer) -> None:
    from voxgate import Client

    with Client(api_key=server.key, base_url=server.base_url) as sdk:
        made = sdk.audio.voices.create(name="SDK reader", consent="statement: recorded with consent",
                                       audio_sample=REFERENCE)  # the clip matched above: cached by its hash
        assert made.id.startswith("voice_") and made.matched_voice and made.model == "kokoro"
        assert made.id in {v.id for v in sdk.audio.voices.list()}
        assert {v.model for v in sdk.audio.voices.list(model="piper")} == {"piper-joe"}
        assert sdk.audio.voices.retrieve(made.id).name == "SDK reader"
        assert sdk.audio.voices.delete(made.id).deleted


def test_cli_voices(tmp_path: Path) -> None:
    env = {**os.environ, "VOXGATE_DATA_DIR": str(tmp_path), "VOXGATE_MODEL_CACHE": str(MODEL_CACHE)}
    listed = subprocess.run([sys.executable, "-m", "voxgate", "voices", "list", "--model", "kokoro"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "af_heart" in listed.stdout and "marin" in listed.stdout
    short = tmp_path / "short.wav"
    short.write_bytes(wav_bytes(np.zeros(8000)))
    refused = subprocess.run([sys.executable, "-m", "voxgate", "voices", "match", str(short)], env=env,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "3 to 30 s" in refused.stderr

