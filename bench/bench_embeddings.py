"""Embeddings (issue 17) and the gateway's own cost on a proxied request.

1. 1,000 sentences through POST /v1/embeddings from 8 concurrent clients (batches of 25) against the same
   model called in-process (EmbeddingEngine, batches of 32): throughput ratio, target >= 0.8.
2. One short input, 50 requests one after another: p50 / p99 latency.
3. A chat completion proxied to an upstream on loopback against the same request sent to that upstream
   directly: the median added latency, target <= 2 ms.

    .venv/bin/python bench/bench_embeddings.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUBJECTS = ["the river", "a small train", "the old library", "my neighbour", "the winter market", "a chess club",
            "the rain", "our garden", "the orchestra", "a bakery"]
VERBS = ["opens early on", "was closed during", "looks beautiful in", "gets crowded after", "is quiet before"]
TIMES = ["Monday mornings", "the holidays", "a long storm", "the school term", "the summer festival",
         "the football match", "the evening news", "the first snow", "the harvest", "the long weekend"]
ENDINGS = ["or so they say", "according to the paper"]
SENTENCES = [f"{s.capitalize()} {v} {t}, {e}." for s in SUBJECTS for v in VERBS for t in TIMES for e in ENDINGS]
CLIENTS, PER_REQUEST = 8, 25


def in_process() -> float:
    from voxgate.embeddings.engine import EmbeddingEngine
    from voxgate.models.catalog import Catalog

    spec = Catalog.load().resolve("all-minilm-l6-v2")
    assert spec is not None
    engine = EmbeddingEngine.load(spec, spec.path)
    engine.embed(engine.tokenize(SENTENCES[:32]))  # warm
    started = time.perf_counter()
    engine.embed(engine.tokenize(SENTENCES))
    return len(SENTENCES) / (time.perf_counter() - started)


def served(http: httpx.Client) -> float:
    chunks = [SENTENCES[i:i + PER_REQUEST] for i in range(0, len(SENTENCES), PER_REQUEST)]
    http.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": SENTENCES[:32]}).raise_for_status()
    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        for r in pool.map(lambda c: http.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": c}),
                          chunks):
            r.raise_for_status()
    return len(SENTENCES) / (time.perf_counter() - started)


def latency(http: httpx.Client) -> tuple[float, float]:
    times = []
    for _ in range(50):
        started = time.perf_counter()
        http.post("/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": "How late is the bakery open?"})
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def proxy_overhead(tmp: Path) -> float:
    """The fake upstream runs in its own process, so neither side's Python shares a GIL with the client."""
    import subprocess

    from tests.conftest import free_port, start_server, stop_server

    port = free_port()
    upstream = subprocess.Popen([sys.executable, "-m", "tests.fake_upstream", str(port)], cwd=ROOT)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.post(f"{base_url}/chat/completions", json={"model": "gpt-up", "messages": []}, timeout=1)
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "the fake upstream did not start"
            time.sleep(0.1)
    catalog = tmp / "upstream.toml"
    catalog.write_text(f'[[models]]\nid = "hosted"\nengine = "openai-compatible"\nbase_url = "{base_url}"\n'
                       'upstream_model = "gpt-up"\n')
    live = start_server(tmp / "proxy", {"VOXGATE_CATALOG": str(catalog), "VOXGATE_LLM_PRELOAD": "false"})
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
    try:
        with httpx.Client(timeout=30) as direct, live.http() as gated:
            def one(client: httpx.Client, url: str, model: str) -> float:
                started = time.perf_counter()
                client.post(url, json={**body, "model": model}).raise_for_status()
                return (time.perf_counter() - started) * 1000

            for _ in range(50):  # warm both paths (connections, the engine's client)
                one(direct, f"{base_url}/chat/completions", "gpt-up")
                one(gated, "/v1/chat/completions", "hosted")
            added = []
            for _ in range(300):  # interleaved, so machine noise hits both alike
                plain = one(direct, f"{base_url}/chat/completions", "gpt-up")
                added.append(one(gated, "/v1/chat/completions", "hosted") - plain)
        return statistics.median(added)
    finally:
        stop_server(live)
        upstream.terminate()
        upstream.wait(10)


def main() -> int:
    from tests.conftest import start_server, stop_server

    tmp = Path(tempfile.mkdtemp(prefix="bench-embeddings-"))
    base = in_process()
    live = start_server(tmp / "server", {"VOXGATE_LLM_PRELOAD": "false"})
    try:
        with live.http() as http:
            rate = served(http)
            p50, p99 = latency(http)
    finally:
        stop_server(live)
    overhead = proxy_overhead(tmp)
    ratio = rate / base
    print(f"embeddings, {len(SENTENCES)} sentences: in-process {base:.0f}/s, server with {CLIENTS} clients "
          f"{rate:.0f}/s, ratio {ratio:.2f} (target >= 0.8: {'met' if ratio >= 0.8 else 'MISSED'})")
    print(f"one short input: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(f"gateway added latency on a proxied chat completion: median {overhead:.2f} ms "
          f"(target <= 2 ms: {'met' if overhead <= 2 else 'MISSED'})")
    return 0 if ratio >= 0.8 and overhead <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
