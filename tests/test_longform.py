"""Long-form transcription end to end through the official SDK: stitching, silences, subtitles,
streaming, chunking_strategy, fairness between requests, flat memory and the CLI.

Test audio is assembled from the LibriVox clips (real speech, known text) with pauses, faint noise,
a minute of silence and synthetic music, so every expected word has a known place in time."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openai
import pytest

from tests.conftest import ROOT, LiveServer, start_server, stop_server
from tests.helpers import librivox_clips, normalize, wer

SR = 16000
MODEL = "whisper-base"
FAST = "whisper-tiny.en"


@dataclass
class Placed:
    start: float
    end: float
    text: str


@dataclass
class LongAudio:
    path: Path
    duration: float
    placed: list[Placed]

    @property
    def text(self) -> str:
        return " ".join(p.text for p in self.placed)


def _read(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768


def _write(path: Path, audio: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes())


def music(seconds: float, seed: int = 0) -> np.ndarray:
    """Three-note chords with decaying harmonics: music-like, no voice."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * SR), np.float32)
    scale = [261.6, 293.7, 329.6, 349.2, 392.0, 440.0, 493.9, 523.3]
    t = 0.0
    while t < seconds - 1.0:
        dur = float(rng.choice([0.25, 0.5, 0.5, 1.0]))
        tt = np.arange(int(dur * SR)) / SR
        chord = sum(np.sin(2 * np.pi * f * tt) + 0.3 * np.sin(4 * np.pi * f * tt)
                    for f in (scale[i] for i in rng.choice(8, 3, replace=False)))
        s = int(t * SR)
        out[s:s + len(tt)] += (0.08 * chord * np.exp(-3 * tt)).astype(np.float32)
        t += dur
    return out


def assemble(path: Path, duration: float, gaps: list[float], start: float = 0.8, seed: int = 1,
             extra: list[tuple[float, np.ndarray]] | None = None, speech_until: float | None = None) -> LongAudio:
    """LibriVox clips in a shuffled order, each followed by the next gap (cycled), over a faint noise floor."""
    clips = [(_read(p), text) for p, text in librivox_clips()]
    rng = np.random.default_rng(seed)
    audio = (rng.standard_normal(int(duration * SR)) * 0.001).astype(np.float32)
    placed: list[Placed] = []
    t, i = start, 0
    limit = min(duration, speech_until or duration) - 0.5
    order: list[int] = []
    while True:
        if not order:
            order = [int(k) for k in rng.permutation(len(clips))]
        pcm, text = clips[order.pop()]
        if t + len(pcm) / SR > limit:
            break
        audio[int(t * SR):int(t * SR) + len(pcm)] += pcm
        placed.append(Placed(round(t, 3), round(t + len(pcm) / SR, 3), text))
        t += len(pcm) / SR + gaps[i % len(gaps)]
        i += 1
    for at, sound in extra or []:
        audio[int(at * SR):int(at * SR) + len(sound)] += sound
    _write(path, audio)
    return LongAudio(path, duration, placed)


@pytest.fixture(scope="session")
def three_minutes(tmp_path_factory: pytest.TempPathFactory) -> LongAudio:
    gaps = [0.4, 1.3, 0.15, 2.5, 0.6, 0.25, 4.0, 0.8]  # short pauses, long ones, near back-to-back
    return assemble(tmp_path_factory.mktemp("long") / "three.wav", 180.0, gaps)


@pytest.fixture(scope="session")
def two_minutes(tmp_path_factory: pytest.TempPathFactory) -> LongAudio:
    """Four stitched windows: enough for subtitles, streaming and the CLI; three minutes check the stitching."""
    gaps = [0.4, 1.3, 0.15, 2.5, 0.6, 0.25, 4.0, 0.8]
    return assemble(tmp_path_factory.mktemp("long") / "two.wav", 120.0, gaps, seed=4)


@pytest.fixture(scope="session")
def three_minutes_verbose(client: openai.OpenAI, three_minutes: LongAudio):  # type: ignore[no-untyped-def]
    with three_minutes.path.open("rb") as fh:
        return client.audio.transcriptions.create(file=fh, model=MODEL, response_format="verbose_json",
                                                  timestamp_granularities=["word", "segment"], language="en")


def _words_between(words, start: float, end: float) -> str:  # type: ignore[no-untyped-def]
    return " ".join(w.word for w in words if start <= (w.start + w.end) / 2 <= end)


def test_three_minutes_stitched_in_order_where_the_words_were_said(three_minutes: LongAudio,
                                                                    three_minutes_verbose) -> None:  # type: ignore[no-untyped-def]
    result = three_minutes_verbose
    assert result.duration == pytest.approx(180.0, abs=0.1)
    assert wer(three_minutes.text, result.text) <= 0.08
    segments, words = result.segments, result.words
    assert len(segments) >= 20  # sentence-sized segments, not one blob per 30 s window
    for a, b in zip(segments, segments[1:]):
        assert a.start <= a.end <= b.start <= b.end, (a, b)
    assert all(s.end - s.start <= 30 for s in segments)
    starts = [w.start for w in words]
    assert starts == sorted(starts) and all(w.start <= w.end for w in words)
    assert normalize(" ".join(w.word for w in words)) == normalize(result.text)
    for placed in three_minutes.placed:  # every clip found at its own time: no drift, nothing skipped twice
        heard = _words_between(words, placed.start - 0.3, placed.end + 0.3)
        assert wer(placed.text, heard) <= 0.35, (placed, heard)
    assert segments[-1].end <= three_minutes.placed[-1].end + 1.0
    assert abs(len(normalize(result.text).split()) - len(normalize(three_minutes.text).split())) <= 8  # no duplicates


def test_long_silence_and_music_get_no_text(client: openai.OpenAI, tmp_path: Path) -> None:
    # 35 s of speech, 60 s of silence (noise floor) with 20 s of music inside, 35 s of speech
    first = assemble(tmp_path / "a.wav", 36.0, [0.5], seed=2)
    second = assemble(tmp_path / "b.wav", 36.0, [0.7], seed=3)
    audio = np.concatenate([_read(first.path), (np.random.default_rng(4).standard_normal(60 * SR) * 0.001).astype(
        np.float32), _read(second.path)])
    audio[(36 + 20) * SR:(36 + 40) * SR] += music(20)
    _write(tmp_path / "gap.wav", audio)
    with (tmp_path / "gap.wav").open("rb") as fh:
        result = client.audio.transcriptions.create(file=fh, model=MODEL, response_format="verbose_json",
                                                    timestamp_granularities=["word", "segment"])
    quiet = (36.5, 95.5)
    invented = [w for w in result.words if w.end > quiet[0] and w.start < quiet[1]]
    assert invented == []
    assert all(s.end <= quiet[0] or s.start >= quiet[1] for s in result.segments)
    assert wer(first.text + " " + second.text, result.text) <= 0.1


def _cues(body: str, separator: str) -> list[tuple[float, float, str]]:
    stamp = r"(\d\d):(\d\d):(\d\d)" + re.escape(separator) + r"(\d\d\d)"
    pattern = re.compile(stamp + r" --> " + stamp)
    cues = []
    for block in body.strip().split("\n\n"):
        lines = block.strip().splitlines()
        match = next((pattern.fullmatch(line) for line in lines if "-->" in line), None)
        assert match, block
        g = [int(x) for x in match.groups()]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        text = " ".join(lines[lines.index(match.group(0)) + 1:])
        cues.append((start, end, text))
    return cues


@pytest.mark.parametrize("response_format", ["srt", "vtt"])
def test_subtitles_of_a_long_file_are_valid_and_ordered(client: openai.OpenAI, two_minutes: LongAudio,
                                                        response_format: str) -> None:
    with two_minutes.path.open("rb") as fh:
        body = client.audio.transcriptions.create(file=fh, model=MODEL, response_format=response_format,
                                                  language="en")
    assert isinstance(body, str)
    if response_format == "vtt":
        assert body.startswith("WEBVTT\n\n")
        body = body[len("WEBVTT"):]
    else:
        numbers = [int(b.strip().splitlines()[0]) for b in body.strip().split("\n\n")]
        assert numbers == list(range(1, len(numbers) + 1))
    cues = _cues(body, "," if response_format == "srt" else ".")
    assert len(cues) >= 13
    for (s1, e1, t1), (s2, _, _) in zip(cues, cues[1:]):
        assert s1 < e1 <= s2 and t1.strip()
    assert all(e - s <= 15 for s, e, _ in cues)  # readable cues, not 30 s windows
    assert cues[-1][1] <= 120
    assert wer(two_minutes.text, " ".join(t for _, _, t in cues)) <= 0.08


def test_streaming_long_file_through_the_sdk(client: openai.OpenAI, two_minutes: LongAudio) -> None:
    events = []
    started = time.perf_counter()
    with two_minutes.path.open("rb") as fh:
        stream = client.audio.transcriptions.create(file=fh, model=MODEL, stream=True, language="en")
        for event in stream:
            events.append((time.perf_counter() - started, event))
    kinds = [e.type for _, e in events]
    assert kinds[-1] == "transcript.text.done" and kinds.count("transcript.text.done") == 1
    deltas = [e for _, e in events if e.type == "transcript.text.delta"]
    assert len(deltas) >= 4  # one per stitched window, as each becomes final
    done = events[-1][1]
    assert "".join(d.delta for d in deltas).strip() == done.text
    assert done.usage.seconds == 120
    assert wer(two_minutes.text, done.text) <= 0.08
    first_delta_at = next(t for t, e in events if e.type == "transcript.text.delta")
    assert first_delta_at < events[-1][0] - 1.0  # text flowed before the end


def test_chunking_strategy_is_honoured(client: openai.OpenAI, server: LiveServer, tmp_path: Path) -> None:
    # a 12 s file: 2 s of speech-free noise, a clip, 4 s of noise
    clip_path, text = librivox_clips()[0]
    clip = _read(clip_path)
    audio = (np.random.default_rng(5).standard_normal(int(13 * SR)) * 0.001).astype(np.float32)
    audio[2 * SR:2 * SR + len(clip)] += clip
    _write(tmp_path / "short.wav", audio)
    for strategy in ("auto", {"type": "server_vad", "threshold": 0.6, "prefix_padding_ms": 200,
                              "silence_duration_ms": 400}):
        with (tmp_path / "short.wav").open("rb") as fh:
            result = client.audio.transcriptions.create(file=fh, model=MODEL, response_format="verbose_json",
                                                        chunking_strategy=strategy)  # type: ignore[arg-type]
        assert wer(text, result.text) <= 0.15
        assert result.segments[0].start >= 1.5  # timed against the file, not the speech-only window
    with server.http() as http:
        for bad in ({"chunking_strategy[type]": "nope"}, {"chunking_strategy[threshold]": "2"},
                    {"chunking_strategy": "sometimes"}):
            r = http.post("/v1/audio/transcriptions", data={"model": MODEL, **bad},
                          files={"file": ("a.wav", (tmp_path / "short.wav").read_bytes())})
            assert r.status_code == 400 and r.json()["error"]["param"] == "chunking_strategy", r.text


def test_short_request_is_not_starved_by_a_long_one(server: LiveServer, tmp_path: Path) -> None:
    # six minutes: three batches of windows, so the short request has queued windows to go ahead of; both on
    # tiny.en (one model, one scheduler queue), which makes the same batches three times faster than base
    nine = assemble(tmp_path / "six.wav", 360.0, [0.4, 1.3, 0.15, 2.5, 0.6, 0.25, 4.0, 0.8], seed=9).path
    client = server.client(timeout=300)
    finished: dict[str, float] = {}
    started = time.perf_counter()

    def long_request() -> None:
        with nine.open("rb") as fh:
            client.audio.transcriptions.create(file=fh, model=FAST, language="en")
        finished["long"] = time.perf_counter() - started

    worker = threading.Thread(target=long_request)
    worker.start()
    time.sleep(2.0)  # the long file is decoding, its windows queued
    clip_path, text = librivox_clips()[1]
    sent = time.perf_counter() - started
    with clip_path.open("rb") as fh:
        short = client.audio.transcriptions.create(file=fh, model=FAST, language="en")
    finished["short"] = time.perf_counter() - started
    worker.join()
    assert wer(text, short.text) <= 0.15
    assert finished["short"] < finished["long"] - 3.0, finished
    assert finished["short"] - sent < 0.5 * finished["long"], finished  # it went ahead of queued windows


def _peak_rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


@pytest.mark.slow
def test_memory_stays_flat_on_a_twenty_minute_file(three_minutes: LongAudio, tmp_path: Path) -> None:
    # Mostly a noise floor with a clip every ~minute: cheap to decode, long to read, plan and stitch.
    long = assemble(tmp_path / "twenty.wav", 1200.0, [50.0, 65.0, 40.0], seed=7)
    # the chat model stays unloaded: this measures what transcription holds (its bound predates the LLM)
    live = start_server(tmp_path / "data", {"VOXGATE_MAX_UPLOAD_BYTES": str(100 * 1024 * 1024),
                                            "VOXGATE_LLM_PRELOAD": "false"})
    try:
        client = live.client(timeout=600)
        with three_minutes.path.open("rb") as fh:  # dense speech: full batches on every worker
            client.audio.transcriptions.create(file=fh, model=MODEL, language="en", response_format="verbose_json")
        after_warm = _peak_rss_kb(live.process.pid)
        with long.path.open("rb") as fh:
            result = client.audio.transcriptions.create(file=fh, model=MODEL, language="en",
                                                        response_format="verbose_json")
        after_long = _peak_rss_kb(live.process.pid)
        assert result.duration == pytest.approx(1200, abs=0.1)
        assert wer(long.text, result.text) <= 0.1
    finally:
        stop_server(live)
    # the 20-minute upload is 38 MB, its float32 samples 77 MB: neither may sit in memory whole, so the
    # peak stays where three minutes of dense speech put it (batches in flight set it, not the length)
    assert after_long < 1200 * 1024, (after_warm, after_long)
    assert after_long - after_warm < 200 * 1024, (after_warm, after_long)


def test_cli_transcribes_a_long_file_to_srt(two_minutes: LongAudio, tmp_path: Path, server: LiveServer) -> None:
    out = tmp_path / "two.srt"
    env = dict(server.env, VOXGATE_DATA_DIR=str(server.data_dir))
    proc = subprocess.run([sys.executable, "-m", "voxgate", "transcribe", str(two_minutes.path), "--format", "srt",
                           "--model", MODEL, "--language", "en", "-o", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    cues = _cues(out.read_text(), ",")
    assert len(cues) >= 13 and cues == sorted(cues)
    assert wer(two_minutes.text, " ".join(t for _, _, t in cues)) <= 0.08
