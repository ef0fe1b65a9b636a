"""Realtime transcription (issue 14): how soon live speech becomes text, and how well.

Real speech streamed in real time over loopback with the official SDK's realtime client, server_vad with
OpenAI's defaults (silence 500 ms), whisper-base as the session model, English:
  - the audio is a conversation: the two-voice fixture (five turns, 0.45-0.7 s pauses, two speakers) and the
    five LibriVox clips with 0.8 s pauses, about 55 s in all;
  - per turn: end of speech (the server's `audio_end_ms`, as sent) to the `completed` event, median and p95;
    speech start (`audio_start_ms` + the 300 ms prefix padding) to the first delta;
  - lag: how late `speech_stopped` comes after the silence that triggers it; a session keeping up with real
    time keeps it near zero;
  - WER of all completed turns together against the reference, beside the same audio transcribed offline
    (POST /v1/audio/transcriptions, whisper-1): at most 2 points worse;
  - the baseline: each turn uploaded to /v1/audio/transcriptions as soon as it ends (500 ms of silence to
    notice the end, then upload and transcription), the latency a client gets without realtime;
  - then 4 sessions at once on the same server, the same measures;
  - a conversation with a voice pipeline (tiny.en + SmolLM2-135M + Piper, as bench_pipeline's target row):
    five spoken questions in one session, from the end of each question's speech to its transcript, the
    reply's first text delta and its first audio delta (medians).
Targets: one session: completed <= 1.0 s after speech ends (median), first delta <= 1.5 s after speech starts;
every run: WER within 2 points of offline, and no session falls behind real time (speech_stopped at most
0.5 s late, every turn completed). The 4-session latencies are reported without a target.

    .venv/bin/python bench/bench_realtime.py [--sessions=4]
"""

from __future__ import annotations

import base64
import io
import json
import statistics
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import start_server, stop_server  # noqa: E402
from tests.helpers import librivox_clips, wer  # noqa: E402
from tests.realtime_client import load16k, pcm24, silence, stream  # noqa: E402

SILENCE_MS = 500
PREFIX_MS = 300
SESSION = {"type": "transcription", "audio": {"input": {
    "format": {"type": "audio/pcm", "rate": 24000}, "transcription": {"model": "whisper-1", "language": "en"},
    "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": PREFIX_MS,
                       "silence_duration_ms": SILENCE_MS}}}}
TARGET_COMPLETED_S = 1.0
TARGET_FIRST_DELTA_S = 1.5
MAX_WER_GAP = 0.02
MAX_LAG_S = 0.5
STEP = 4800  # bytes per append: 100 ms of 24 kHz pcm16


def conversation() -> tuple[np.ndarray, str]:
    fixture = json.loads((ROOT / "tests/data/diarize_two_voices.json").read_text())
    parts = [load16k(ROOT / "tests/data/diarize_two_voices.wav"), silence(1.0)]
    texts = [turn["text"] for turn in fixture["turns"]]
    for path, text in librivox_clips():
        parts += [load16k(path), silence(0.8)]
        texts.append(text)
    parts.append(silence(1.5))
    return np.concatenate(parts), " ".join(texts)


def wav(samples: np.ndarray) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()


def measure(rec: Any) -> dict[str, Any]:
    """Per-turn latencies from one session's recorded events (times relative to the first audio sent)."""
    started = {e.item_id: e.audio_start_ms for e in rec.of("input_audio_buffer.speech_started")}
    stopped = {e.item_id: (t, e.audio_end_ms) for t, e in rec.events if e.type == "input_audio_buffer.speech_stopped"}
    first_delta: dict[str, float] = {}
    for t, e in rec.events:
        if e.type == "conversation.item.input_audio_transcription.delta":
            first_delta.setdefault(e.item_id, t)
    completed, deltas, lags, turns = [], [], [], []
    for t, e in rec.events:
        if e.type != "conversation.item.input_audio_transcription.completed" or e.item_id not in stopped:
            continue
        stop_t, end_ms = stopped[e.item_id]
        completed.append(t - end_ms / 1000)
        lags.append(stop_t - (end_ms + SILENCE_MS) / 1000)
        if e.item_id in first_delta and e.item_id in started:
            deltas.append(first_delta[e.item_id] - (started[e.item_id] + PREFIX_MS) / 1000)
        turns.append((started.get(e.item_id, 0), end_ms, e.transcript))
    return {"completed": completed, "first_delta": deltas, "lag": lags, "turns": turns,
            "text": " ".join(tr for _, _, tr in turns)}


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else float("nan")


def baseline(http: httpx.Client, audio: np.ndarray, turns: list[tuple[int, int, str]]) -> list[float]:
    """Each turn's audio uploaded as it ends: seconds from the end of speech to the transcript."""
    out = []
    for start_ms, end_ms, _ in turns:
        clip = audio[int(start_ms * 16):int((end_ms + 300) * 16)]
        t0 = time.perf_counter()
        r = http.post("/v1/audio/transcriptions", data={"model": "whisper-1", "language": "en"},
                      files={"file": ("turn.wav", wav(clip), "audio/wav")})
        r.raise_for_status()
        out.append(SILENCE_MS / 1000 + time.perf_counter() - t0)
    return out


def run(client: Any, audio: bytes, sessions: int) -> list[dict[str, Any]]:
    results: list[Any] = [None] * sessions

    def one(i: int) -> None:
        results[i] = stream(client, audio, SESSION, pace=1.0, items=10, timeout_s=180)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
        time.sleep(0.37)  # sessions do not start in lockstep, as real callers do not
    for t in threads:
        t.join()
    return [measure(r) for r in results]


def report(label: str, measured: list[dict[str, Any]], reference: str, offline_wer: float, *,
           latency_targets: bool = True) -> bool:
    completed = [v for m in measured for v in m["completed"]]
    deltas = [v for m in measured for v in m["first_delta"]]
    lags = [v for m in measured for v in m["lag"]]
    wers = [wer(reference, m["text"]) for m in measured]
    med_c, med_d = statistics.median(completed), statistics.median(deltas) if deltas else float("nan")
    print(f"{label}: {sum(len(m['turns']) for m in measured)} turns; end of speech -> completed median "
          f"{med_c:.2f} s, p95 {p95(completed):.2f} s; speech start -> first delta median {med_d:.2f} s, "
          f"p95 {p95(deltas):.2f} s; speech_stopped lag median {statistics.median(lags):.2f} s, max "
          f"{max(lags):.2f} s; WER {statistics.median(wers):.1%} (offline {offline_wer:.1%})")
    keeps_up = max(lags) <= MAX_LAG_S and all(len(m["turns"]) == len(measured[0]["turns"]) for m in measured)
    print(f"  keeps up with real time (speech_stopped at most {MAX_LAG_S} s late, every turn completed): "
          f"{'yes' if keeps_up else 'NO'}")
    ok = keeps_up and statistics.median(wers) <= offline_wer + MAX_WER_GAP
    if latency_targets:
        ok = ok and med_c <= TARGET_COMPLETED_S and med_d <= TARGET_FIRST_DELTA_S
    return ok


QUESTIONS = [("af_heart", "What is the capital of France?"), ("am_michael", "How many days are there in a week?"),
             ("bf_emma", "What colour is the sky on a clear day?"), ("am_echo", "Can you name a yellow fruit?"),
             ("af_nova", "What do bees make?")]
PIPELINE = {"id": "bench-realtime", "stt_model": "whisper-tiny.en", "llm_model": "smollm2-135m",
            "tts_model": "piper-joe", "voice": "alloy", "temperature": 0,
            "system_prompt": "You are a voice assistant. Answer in one short sentence."}


def conversation_stages(client: Any, http: httpx.Client) -> dict[str, float]:
    """Seconds from the end of each spoken question to its transcript, first reply text and first reply audio."""
    http.post("/v1/pipelines", json=PIPELINE).raise_for_status()
    marks: dict[str, list[float]] = {"transcript": [], "first text": [], "first audio": []}
    sent_s = 0.0  # audio already sent: the session's timeline does not move while we wait for a reply
    with client.realtime.connect(model=PIPELINE["id"]) as conn:
        for voice, text in QUESTIONS:
            spoken = client.audio.speech.create(model="kokoro", voice=voice, input=text, response_format="wav")
            question = np.concatenate([silence(0.3), load16k(spoken.content), silence(1.2)])
            data = pcm24(question)
            start = time.monotonic()

            def send(data: bytes = data, start: float = start) -> None:
                for i in range(0, len(data), STEP):  # real time: one 100 ms piece every 100 ms
                    time.sleep(max(0.0, start + i / 48000 - time.monotonic()))
                    conn.input_audio_buffer.append(audio=base64.b64encode(data[i:i + STEP]).decode())

            sender = threading.Thread(target=send)
            sender.start()
            end_s = None
            seen: dict[str, float] = {}
            for event in conn:
                now = time.monotonic() - start
                if event.type == "input_audio_buffer.speech_stopped":
                    end_s = event.audio_end_ms / 1000 - sent_s  # where the question's speech ended, as sent
                elif event.type == "conversation.item.input_audio_transcription.completed":
                    seen.setdefault("transcript", now)
                elif event.type == "response.output_audio_transcript.delta":
                    seen.setdefault("first text", now)
                elif event.type == "response.output_audio.delta":
                    seen.setdefault("first audio", now)
                elif event.type == "response.done":
                    break
            sender.join()
            assert end_s is not None
            sent_s += len(data) / 48000
            for name in marks:
                marks[name].append(seen[name] - end_s)
    return {name: statistics.median(values) for name, values in marks.items()}


def main() -> int:
    sessions = next((int(a.split("=", 1)[1]) for a in sys.argv[1:] if a.startswith("--sessions=")), 4)
    audio, reference = conversation()
    data = pcm24(audio)
    server = start_server(Path(tempfile.mkdtemp(prefix="bench-realtime-")))
    try:
        client = server.client()
        with server.http() as http:
            offline = http.post("/v1/audio/transcriptions", data={"model": "whisper-1", "language": "en"},
                                files={"file": ("all.wav", wav(audio), "audio/wav")}).json()["text"]
            offline_wer = wer(reference, offline)
            stream(client, pcm24(audio[:16000 * 8]), SESSION, pace=4.0, items=1)  # warm both models
            single = run(client, data, 1)
            base = baseline(http, audio, single[0]["turns"])
        ok = report("1 session", single, reference, offline_wer)
        med_rt, med_base = statistics.median(single[0]["completed"]), statistics.median(base)
        print(f"baseline (each turn uploaded when it ends): end of speech -> transcript median {med_base:.2f} s, "
              f"p95 {p95(base):.2f} s; realtime / baseline {med_rt / med_base:.2f}")
        many = run(client, data, sessions)
        ok = report(f"{sessions} sessions", many, reference, offline_wer, latency_targets=False) and ok
        with server.http() as http:
            stages = conversation_stages(client, http)
        print("conversation (tiny.en + SmolLM2-135M + Piper), end of the question's speech to: " +
              ", ".join(f"{name} {value:.2f} s" for name, value in stages.items()) +
              f" (server_vad's {SILENCE_MS} ms of silence included)")
    finally:
        stop_server(server)
    print(f"targets: completed <= {TARGET_COMPLETED_S} s, first delta <= {TARGET_FIRST_DELTA_S} s, WER within "
          f"{MAX_WER_GAP:.0%} of offline: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
