"""Gateway overhead and idempotent replay latency, on two live servers.

Run from the repo root: `.venv/bin/python bench/bench_gateway.py [--n 200]`.

Server "on" runs the full gateway (idempotency middleware, rate limits, metering, credit holds, ledger);
server "off" runs with VOXGATE_GATEWAY=off (authentication only). Requests alternate between the two so
drift on a shared machine hits both alike. Reported: medians in ms, and on/off or replay/first-run ratios:
  - GET /v1/models                        (pure gateway cost: auth, rate limiter, middleware)
  - POST /v1/admin/keys/{id}              a tiny write with a fresh Idempotency-Key (fingerprint, claim, settle)
  - tiny TTS ("Hi.", pcm)                 on: limited key with credits + a fresh Idempotency-Key each
  - TTS replay vs first run               same request, same Idempotency-Key, answered from the store
  - transcription replay vs first run     3 s clip, whisper-tiny.en
Writes bench/out/gateway.json as well."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.conftest import BOOTSTRAP_KEY, LiveServer, start_server, stop_server  # noqa: E402

CLIP = ROOT / "tests/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav"
TTS = {"model": "tts-1", "voice": "alloy", "input": "Hi.", "response_format": "pcm"}


def timed(fn: Callable[[], httpx.Response]) -> float:
    started = time.perf_counter()
    r = fn()
    elapsed = (time.perf_counter() - started) * 1000
    if r.status_code >= 400:
        raise RuntimeError(f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:200]}")
    return elapsed


def median(xs: list[float]) -> float:
    return round(statistics.median(xs), 2)


def user_key(server: LiveServer) -> str:
    """A key with every policy active: rate limits, a concurrency cap and a credit balance."""
    with httpx.Client(base_url=server.root, headers={"Authorization": f"Bearer {BOOTSTRAP_KEY}"}) as http:
        r = http.post("/v1/admin/keys", json={"name": "bench", "credits": 1_000_000, "rpm": 1_000_000,
                                              "concurrency": 64})
        r.raise_for_status()
        return str(r.json()["key"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200, help="requests per measured path")
    args = parser.parse_args()
    n = args.n
    tmp = Path(tempfile.mkdtemp(prefix="voxgate-bench-"))
    on = start_server(tmp / "on", {"VOXGATE_LOG_LEVEL": "warning"})
    off = start_server(tmp / "off", {"VOXGATE_GATEWAY": "off", "VOXGATE_LOG_LEVEL": "warning"})
    try:
        key = user_key(on)
        h_on = httpx.Client(base_url=on.root, headers={"Authorization": f"Bearer {key}"}, timeout=120)
        h_off = httpx.Client(base_url=off.root, headers={"Authorization": f"Bearer {BOOTSTRAP_KEY}"}, timeout=120)
        audio = CLIP.read_bytes()

        def idem() -> dict[str, str]:
            return {"Idempotency-Key": uuid.uuid4().hex}

        def transcribe(http: httpx.Client, headers: dict[str, str]) -> httpx.Response:
            return http.post("/v1/audio/transcriptions", headers=headers, files={"file": ("a.wav", audio)},
                             data={"model": "whisper-tiny.en"})

        for http in (h_on, h_off):  # warm up: load models, open connections
            for _ in range(3):
                http.get("/v1/models")
                http.post("/v1/audio/speech", json=TTS)
            transcribe(http, {})

        results: dict[str, dict[str, float]] = {}
        models_on, models_off = [], []
        for _ in range(n):
            models_on.append(timed(lambda: h_on.get("/v1/models")))
            models_off.append(timed(lambda: h_off.get("/v1/models")))
        results["GET /v1/models"] = {"on_ms": median(models_on), "off_ms": median(models_off)}

        # a cheap POST with a fresh Idempotency-Key: body fingerprint, claim and settle transactions
        admin_on = httpx.Client(base_url=on.root, headers={"Authorization": f"Bearer {BOOTSTRAP_KEY}"}, timeout=60)
        target_on = admin_on.post("/v1/admin/keys", json={"name": "t"}).json()["id"]
        target_off = h_off.post("/v1/admin/keys", json={"name": "t"}).json()["id"]
        post_on, post_off = [], []
        for i in range(n):
            body = {"name": f"t{i}"}
            post_on.append(timed(lambda b=body: admin_on.post(f"/v1/admin/keys/{target_on}", json=b, headers=idem())))
            post_off.append(timed(lambda b=body: h_off.post(f"/v1/admin/keys/{target_off}", json=b)))
        results["POST admin update (idem.)"] = {"on_ms": median(post_on), "off_ms": median(post_off)}
        admin_on.close()

        tts_on, tts_off, tts_replay = [], [], []
        fixed = idem()
        h_on.post("/v1/audio/speech", json=TTS, headers=fixed).raise_for_status()
        for _ in range(n):
            tts_on.append(timed(lambda: h_on.post("/v1/audio/speech", json=TTS, headers=idem())))
            tts_off.append(timed(lambda: h_off.post("/v1/audio/speech", json=TTS)))
            tts_replay.append(timed(lambda: h_on.post("/v1/audio/speech", json=TTS, headers=fixed)))
        results["TTS 'Hi.' pcm"] = {"on_ms": median(tts_on), "off_ms": median(tts_off),
                                    "replay_ms": median(tts_replay)}

        tx_first, tx_replay, tx_off = [], [], []
        for _ in range(max(5, n // 10)):
            headers = idem()
            tx_first.append(timed(lambda h=headers: transcribe(h_on, h)))
            tx_replay.append(timed(lambda h=headers: transcribe(h_on, h)))
            tx_off.append(timed(lambda: transcribe(h_off, {})))
        results["transcription 3 s tiny.en"] = {"on_ms": median(tx_first), "off_ms": median(tx_off),
                                                "replay_ms": median(tx_replay)}
        h_on.close()
        h_off.close()
    finally:
        stop_server(on)
        stop_server(off)

    print(f"gateway overhead and replay latency (medians, n={n}; transcription n={max(5, n // 10)})")
    print(f"{'path':<28}{'gateway on':>12}{'off':>10}{'added':>10}{'on/off':>9}{'replay':>10}{'replay/1st':>12}")
    for path, r in results.items():
        added = r["on_ms"] - r["off_ms"]
        replay = f"{r['replay_ms']:>10.2f}" if "replay_ms" in r else f"{'':>10}"
        ratio = f"{r['replay_ms'] / r['on_ms']:>12.3f}" if "replay_ms" in r else ""
        print(f"{path:<28}{r['on_ms']:>12.2f}{r['off_ms']:>10.2f}{added:>+10.2f}{r['on_ms'] / r['off_ms']:>9.2f}"
              f"{replay}{ratio}")
    out = ROOT / "bench/out/gateway.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"n": n, "results": results}, indent=2))


if __name__ == "__main__":
    main()
