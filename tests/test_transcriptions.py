"""POST /v1/audio/transcriptions and /translations through the official SDK, with real Whisper models."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import av
import numpy as np
import openai
import pytest

from tests.conftest import LiveServer
from tests.helpers import librivox_clips, wer

CLIP, CLIP_TEXT = librivox_clips()[1]  # "he was not an ill disposed young man"


def _encode(path: Path, container: str, codec: str, rate: int = 16000) -> bytes:
    """Re-encode a test clip into another container with PyAV (what a phone or browser would send)."""
    out = io.BytesIO()
    with av.open(str(path)) as src, av.open(out, "w", format=container) as dst:
        stream = dst.add_stream(codec, rate=rate, layout="mono")
        resampler = av.AudioResampler(format=stream.codec_context.codec.audio_formats[0].name, layout="mono",
                                      rate=rate)
        for frame in src.decode(audio=0):
            for f in resampler.resample(frame):
                for packet in stream.encode(f):
                    dst.mux(packet)
        for f in resampler.resample(None):
            for packet in stream.encode(f):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return out.getvalue()


def test_librivox_wer_whisper_base(client: openai.OpenAI) -> None:
    """Word error rate of whisper-base over the five LibriVox clips (pocketsphinx-testdata) is at most 8%."""
    refs, hyps = [], []
    for path, text in librivox_clips():
        hyps.append(client.audio.transcriptions.create(model="whisper-base", file=path.open("rb"), language="en").text)
        refs.append(text)
    assert wer(" ".join(refs), " ".join(hyps)) <= 0.08, hyps


@pytest.mark.parametrize("container,codec,rate", [
    ("mp3", "libmp3lame", 16000), ("ogg", "libopus", 48000), ("flac", "flac", 16000), ("webm", "libopus", 48000),
    ("mp4", "aac", 16000), ("ipod", "aac", 16000), ("wav", "pcm_s16le", 16000),
])
def test_formats_detected_from_content(client: openai.OpenAI, container: str, codec: str, rate: int) -> None:
    data = _encode(CLIP, container, codec, rate)
    text = client.audio.transcriptions.create(model="whisper-1", file=data).text  # filename "upload"
    assert wer(CLIP_TEXT, text) <= 0.2, (container, text)


def test_json_default_has_usage(client: openai.OpenAI) -> None:
    result = client.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"))
    assert result.usage is not None and result.usage.type == "duration" and result.usage.seconds == 3


def test_verbose_json_fields_and_words(client: openai.OpenAI) -> None:
    result = client.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"), response_format="verbose_json",
                                                timestamp_granularities=["word", "segment"])
    assert result.language == "english" and 2.9 < result.duration < 3.1
    assert result.segments and result.words
    seg = result.segments[0].model_dump()
    for key in ("id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob", "compression_ratio",
                "no_speech_prob"):
        assert key in seg
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and all(w.end >= w.start for w in result.words)
    assert wer(CLIP_TEXT, " ".join(w.word for w in result.words)) <= 0.2
    assert result.usage is not None and result.usage.seconds == 3


def test_verbose_json_without_words(client: openai.OpenAI) -> None:
    result = client.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"), response_format="verbose_json")
    assert result.words is None and result.segments


def test_text_srt_vtt(server: LiveServer, client: openai.OpenAI) -> None:
    text = client.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"), response_format="text")
    assert isinstance(text, str) and wer(CLIP_TEXT, text) <= 0.2
    srt = client.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"), response_format="srt")
    assert re.match(r"^1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n.+", srt)
    vtt = client.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"), response_format="vtt")
    assert vtt.startswith("WEBVTT\n\n") and re.search(r"\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}", vtt)
    with server.http() as http:
        r = http.post("/v1/audio/transcriptions", data={"model": "whisper-1", "response_format": "srt"},
                      files={"file": ("a.wav", CLIP.read_bytes())})
        assert r.headers["content-type"].startswith("text/plain")


def test_prompt_language_temperature(client: openai.OpenAI) -> None:
    result = client.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"), language="en",
                                                prompt="Sense and Sensibility by Jane Austen.", temperature=0.2)
    assert wer(CLIP_TEXT, result.text) <= 0.2


def test_tiny_en_model(client: openai.OpenAI) -> None:
    result = client.audio.transcriptions.create(model="whisper-tiny.en", file=CLIP.open("rb"))
    assert wer(CLIP_TEXT, result.text) <= 0.25


def test_stream_sse_through_sdk(client: openai.OpenAI) -> None:
    events = list(client.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"), stream=True))
    deltas = [e for e in events if e.type == "transcript.text.delta"]
    assert deltas and events[-1].type == "transcript.text.done"
    assert wer(CLIP_TEXT, events[-1].text) <= 0.2
    assert "".join(d.delta for d in deltas).strip() == events[-1].text


def test_json_base64_body(server: LiveServer) -> None:
    b64 = base64.b64encode(CLIP.read_bytes()).decode()
    with server.http() as http:
        for body in ({"model": "whisper-1", "file_base64": b64, "filename": "clip.wav"},
                     {"model": "whisper-1", "audio": b64},
                     {"model": "whisper-1", "audio": "data:audio/wav;base64," + b64, "response_format": "verbose_json",
                      "timestamp_granularities": ["word"]}):
            r = http.post("/v1/audio/transcriptions", json=body)
            assert r.status_code == 200, r.text
            assert wer(CLIP_TEXT, r.json()["text"]) <= 0.2
        assert "words" in r.json()


def test_translation_to_english(client: openai.OpenAI) -> None:
    result = client.audio.translations.create(model="whisper-1", file=CLIP.open("rb"), response_format="verbose_json")
    assert result.language == "english" and wer(CLIP_TEXT, result.text) <= 0.25
    srt = client.audio.translations.create(model="whisper-1", file=CLIP.open("rb"), response_format="srt")
    assert "-->" in srt


def test_translation_rejects_diarized_json(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.audio.translations.create(model="whisper-1", file=CLIP.open("rb"), response_format="diarized_json")  # type: ignore[arg-type]
    assert info.value.body["param"] == "response_format"  # type: ignore[index]


def test_healthz_answers_during_transcription(server: LiveServer) -> None:
    """Inference runs off the event loop: /healthz stays fast while a transcription runs."""
    import threading
    import time

    import httpx

    long_audio = np.concatenate([np.zeros(16000, dtype=np.float32)] + [
        np.frombuffer(p.read_bytes()[44:], dtype="<i2").astype(np.float32) / 32768 for p, _ in librivox_clips()])
    buf = io.BytesIO()
    with av.open(buf, "w", format="wav") as dst:
        stream = dst.add_stream("pcm_s16le", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray((long_audio * 32767).astype(np.int16).reshape(1, -1), format="s16",
                                           layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    worker = threading.Thread(target=lambda: server.client().audio.transcriptions.create(
        model="whisper-1", file=buf.getvalue()))
    worker.start()
    time.sleep(1.0)
    latencies = []
    while worker.is_alive() and len(latencies) < 10:
        started = time.perf_counter()
        assert httpx.get(f"{server.root}/healthz", timeout=5).status_code == 200
        latencies.append(time.perf_counter() - started)
        time.sleep(0.2)
    worker.join()
    assert latencies and max(latencies) < 0.5, latencies


def test_languages_hint_and_answer(client: openai.OpenAI) -> None:
    """OpenAI's 2026 fields: `languages[]` limits detection to the expected languages, and every JSON answer
    (and the stream's done event) says which language was heard."""
    plain = client.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"))
    assert plain.model_dump()["languages"] == [{"code": "en"}]
    hinted = client.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"), response_format="verbose_json",
                                                extra_body={"languages": ["de", "en"]})
    assert hinted.language == "english" and hinted.model_dump()["languages"] == [{"code": "en"}]
    forced = client.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"), response_format="verbose_json",
                                                extra_body={"languages": ["fr"]})
    assert forced.language == "french", "a single expected language is decoded as that language"
    events = list(client.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"), stream=True))
    assert events[-1].model_dump()["languages"] == [{"code": "en"}]
    with pytest.raises(openai.BadRequestError) as both:
        client.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"), language="en",
                                           extra_body={"languages": ["en"]})
    assert both.value.body["param"] == "languages"  # type: ignore[index]


def test_keywords_are_checked_and_used(client: openai.OpenAI) -> None:
    result = client.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"),
                                                extra_body={"keywords": ["Sensibility", "Dashwood"]})
    assert wer(CLIP_TEXT, result.text) <= 0.2
    for bad in ("<b>", "two\nlines", "carriage\rreturn", "a > b"):
        with pytest.raises(openai.BadRequestError) as err:
            client.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"), extra_body={"keywords": [bad]})
        assert err.value.body["param"] == "keywords"  # type: ignore[index]


def test_logprobs_are_refused_not_ignored(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"), include=["logprobs"])
    assert err.value.body["param"] == "include" and "not supported" in err.value.message  # type: ignore[index]
