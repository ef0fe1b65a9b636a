"""Long-form transcription throughput in-process and on Ray with 1 and 2 actors, side by side in one run, and a
model of throughput against workers and machines built from what was measured.

A local Ray cluster (head + worker node on loopback, one CPU each) decodes for a voxgate server started with
VOXGATE_RAY_ADDRESS; the in-process server decodes with its usual two CTranslate2 replicas on the same 2 cores.
Input: ~2.7 minutes of speech (the LibriVox clips and the two-voice conversation, three times over in different
orders). Printed: seconds per run (median), audio seconds per wall second, windows decoded, and the model.

    .venv/bin/python bench/bench_scale.py [--quick]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port, start_server, stop_server  # noqa: E402
from tests.helpers import librivox_clips, speech_parts, wav_bytes  # noqa: E402
from tests.realtime_client import load16k  # noqa: E402

RAY = str(ROOT / ".venv" / "bin" / "ray")
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
RUNS = 2


def audio() -> tuple[bytes, float]:
    parts = speech_parts()
    order = parts + parts[::-1] + parts[2:] + parts[:2]
    gap = np.zeros(8000, dtype=np.float32)
    samples = np.concatenate([x for p in order for x in (p, gap)])
    return wav_bytes(samples), len(samples) / 16000


def windows_decoded(root: str, key: str) -> float:
    text = httpx.get(f"{root}/metrics", headers={"Authorization": f"Bearer {key}"}).text
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("voxgate_asr_batch_windows_total{"))


def run(data_dir: Path, env: dict[str, str], clip: bytes) -> tuple[float, float]:
    """(median seconds per transcription, windows per transcription) on a server with `env`."""
    live = start_server(data_dir, env)
    try:
        headers = {"Authorization": f"Bearer {live.key}"}
        short = wav_bytes(load16k(librivox_clips()[1][0]))
        files = {"file": ("w.wav", short, "audio/wav")}
        httpx.post(f"{live.base_url}/audio/transcriptions", headers=headers, files=files,
                   data={"model": "whisper-1"}, timeout=600).raise_for_status()  # load and warm
        times, before = [], windows_decoded(live.root, live.key)
        for _ in range(RUNS):
            started = time.perf_counter()
            httpx.post(f"{live.base_url}/audio/transcriptions", headers=headers,
                       files={"file": ("long.wav", clip, "audio/wav")},
                       data={"model": "whisper-1", "language": "en"}, timeout=1800).raise_for_status()
            times.append(time.perf_counter() - started)
        per_run = (windows_decoded(live.root, live.key) - before) / RUNS
        return statistics.median(times), per_run
    finally:
        stop_server(live)


def main() -> int:
    global RUNS
    if "--quick" in sys.argv:
        RUNS = 1
    clip, seconds = audio()
    port = free_port()
    address = f"127.0.0.1:{port}"
    subprocess.run([RAY, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "1",
                    "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir=/tmp/voxgate-ray-{port}"],
                   env=ENV, check=True, capture_output=True)
    subprocess.run([RAY, "start", "--address", address, "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
                    "--disable-usage-stats"], env=ENV, check=True, capture_output=True)
    results: dict[str, tuple[float, float]] = {}
    try:
        results["in-process (2 replicas)"] = run(Path(tempfile.mkdtemp()), {}, clip)
        for actors in (1, 2):
            results[f"ray, {actors} actor{'s' if actors > 1 else ''}"] = run(
                Path(tempfile.mkdtemp()), {"VOXGATE_RAY_ADDRESS": address, "VOXGATE_RAY_ASR_ACTORS": str(actors),
                                           "VOXGATE_RAY_ACTOR_CPUS": "1"}, clip)
    finally:
        subprocess.run([RAY, "stop", "--force"], env=ENV, capture_output=True)
    print(f"long-form transcription of {seconds:.0f} s of speech (whisper-base), medians of {RUNS}, 2 cores")
    print(f"{'':26} {'seconds':>8} {'x real time':>12} {'windows':>8} {'s / window':>11}")
    for name, (wall, windows) in results.items():
        print(f"{name:26} {wall:8.1f} {seconds / wall:12.1f} {windows:8.0f} {wall / max(windows, 1):11.2f}")
    base, _ = results["in-process (2 replicas)"]
    one, windows = results["ray, 1 actor"]
    two, _ = results["ray, 2 actors"]
    print(f"\nratios (time): ray 2 actors / ray 1 actor = {two / one:.2f}, "
          f"ray 2 actors / in-process = {two / base:.2f}")
    # The model. One actor on one CPU decodes a window in c seconds (its wall time over its windows, which
    # includes shipping the window's features, ~1 MB, and the results); N actors on N CPUs, spread over machines,
    # divide a file's windows between them, while this server's own work (decoding the upload, features, VAD,
    # stitching) stays serial at s seconds per audio second.
    c = one / max(windows, 1)
    s_serial = max(0.0, (two - one / 2)) / seconds  # what did not halve with a second actor, per audio second
    print(f"\nmodel: per-window cost on one actor c = {c:.2f} s; serial work s = {s_serial * 1000:.1f} ms per audio s")
    for hours, users in ((2.0, 1), (30 / 3600, 100)):
        w = hours * 3600 / 27  # windows of ~27 s of speech after VAD
        for n in (1, 2, 8, 32):
            per_request = w * c / min(n, max(w, 1)) + hours * 3600 * s_serial
            if users == 1:
                print(f"  a 2-hour file on {n:2d} actor CPUs: ~{per_request / 60:5.1f} min "
                      f"({hours * 3600 / per_request:4.1f}x real time)")
            else:
                rate = n / c  # windows per second over the pool, each 30 s request one window
                print(f"  100 users each sending a 30 s clip, {n:2d} actor CPUs: ~{rate * 60:5.0f} clips/min, "
                      f"the 100th done after ~{100 / rate:5.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
