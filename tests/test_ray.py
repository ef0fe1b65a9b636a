"""Whisper batches on Ray actors (issue 16): a local Ray cluster (a head and one worker node, on loopback, one
CPU each) decodes for a server started with VOXGATE_RAY_ADDRESS. A long file comes back with the same transcript
as in-process decoding, a worker killed mid-request is replaced, the request still completing, and speech is
synthesised by a Ray actor and streamed piece by piece."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, LiveServer, free_port, start_server, stop_server
from tests.helpers import decode, librivox_clips, long_speech_wav, wav_bytes, wer
from tests.realtime_client import load16k

RAY = str(ROOT / ".venv" / "bin" / "ray")
ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}


def _ray(*args: str) -> None:
    done = subprocess.run([RAY, *args], env=ENV, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    address = f"127.0.0.1:{port}"
    temp = Path("/tmp") / f"voxgate-ray-{port}"  # Ray's socket paths must stay short
    _ray("start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "1",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}")
    try:
        _ray("start", "--address", address, "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
             "--disable-usage-stats")
        yield address
    finally:
        subprocess.run([RAY, "stop", "--force"], env=ENV, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def ray_server(ray_cluster: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("ray-server"), {
        "VOXGATE_RAY_ADDRESS": ray_cluster, "VOXGATE_RAY_ASR_ACTORS": "2", "VOXGATE_RAY_ACTOR_CPUS": "0.5",
        "VOXGATE_RAY_TTS_ACTORS": "1"})
    try:
        yield live
    finally:
        stop_server(live)


def _transcribe(server: LiveServer, audio: bytes) -> dict[str, object]:
    r = httpx.post(f"{server.base_url}/audio/transcriptions", headers={"Authorization": f"Bearer {server.key}"},
                   files={"file": ("long.wav", audio, "audio/wav")},
                   data={"model": "whisper-1", "response_format": "verbose_json", "language": "en"}, timeout=600)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _actor_pids(kind: str = "AsrWorker") -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"ray::{kind}"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_a_long_file_through_ray_matches_in_process(ray_server: LiveServer, server: LiveServer) -> None:
    audio = long_speech_wav()
    remote = _transcribe(ray_server, audio)
    local = _transcribe(server, audio)
    assert wer(str(local["text"]), str(remote["text"])) <= 0.01, (local["text"], remote["text"])
    assert len(remote["segments"]) == len(local["segments"])  # type: ignore[arg-type]
    assert len(_actor_pids()) == 2  # the batches went to the two actors
    with httpx.Client(base_url=ray_server.root, headers={"Authorization": f"Bearer {ray_server.key}"}) as http:
        assert http.get("/v1/admin/stats").json()["inferences"].get("whisper-base", 0) >= 1


def test_a_killed_worker_is_replaced_and_the_request_completes(ray_server: LiveServer) -> None:
    audio = long_speech_wav()
    _transcribe(ray_server, wav_bytes(load16k(librivox_clips()[1][0])))  # the actors are up
    before = _actor_pids()
    assert len(before) == 2
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.update(_transcribe(ray_server, audio)))
    thread.start()
    time.sleep(1.5)  # mid-request: batches are in flight on both actors
    os.kill(before[0], signal.SIGKILL)
    thread.join(600)
    reference = " ".join(text for _, text in librivox_clips())
    assert wer(reference, str(result["text"])[:len(reference) + 80]) < 0.5, result.get("text")
    deadline = time.monotonic() + 60
    while len(after := _actor_pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(after) == 2 and before[0] not in after  # Ray restarted the dead actor


def test_speech_streams_from_a_ray_actor(ray_server: LiveServer) -> None:
    text = ("The first sentence leaves the actor before the rest is made. The second one follows it, "
            "and the third one closes the stream.")
    headers = {"Authorization": f"Bearer {ray_server.key}"}
    body = {"model": "tts-1", "voice": "nova", "input": text, "response_format": "wav"}
    chunks: list[tuple[float, int]] = []
    started = time.perf_counter()
    with httpx.stream("POST", f"{ray_server.base_url}/audio/speech", headers=headers, json=body, timeout=300) as r:
        assert r.status_code == 200
        data = b""
        for chunk in r.iter_bytes():
            chunks.append((time.perf_counter() - started, len(chunk)))
            data += chunk
    assert _actor_pids("TtsWorker")  # one actor per speech model loaded (the warm-up loads the default one too)
    decoded = decode(data)
    assert decoded.sample_rate == 24000 and decoded.duration > 4
    assert chunks[0][0] < chunks[-1][0] - 0.05  # audio arrived in pieces, the first before the last was made
    heard = httpx.post(f"{ray_server.base_url}/audio/transcriptions", headers=headers,
                       files={"file": ("s.wav", data, "audio/wav")}, data={"model": "whisper-1", "language": "en"},
                       timeout=300).json()["text"]
    assert wer(text, heard) <= 0.1, heard
