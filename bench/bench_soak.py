"""A soak: ten minutes of mixed traffic at bounded concurrency against one live server (issue 11).

Run from the repo root: `.venv/bin/python bench/bench_soak.py [--seconds 600] [--workers 4]`.

The mix, drawn with a fixed seed: short and long speech, short and long transcriptions, idempotent retries
(the retry must be a replay), async jobs, and bad inputs from the test corpus (tests/corpus.py), each checked
against the statuses it may get. A side thread polls /healthz every 0.2 s the whole time. Reported: requests
and unexpected answers per kind, p50/p99 latency, /healthz latency, and the server's RSS and open file
descriptors at start, after the warm-up and at the end, plus temp files left.

The baseline is the server itself after a warm-up: every kind of request and every bad input once, one at a
time, then the first fifth of the run at full concurrency (peak memory grows with the requests in flight,
not with time: the timeline shows the plateau). Targets are RSS growth after warm-up under 10%, no 5xx, no
unexpected answer, no temp file left, and /healthz p99 under 100 ms. Writes bench/out/soak.json as well."""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.conftest import BOOTSTRAP_KEY, LiveServer, start_server, stop_server  # noqa: E402
from tests.corpus import CASES, ENV, Case, encode_array  # noqa: E402
from tests.helpers import librivox_clips  # noqa: E402

OUT = ROOT / "bench" / "out"
LONG_TEXT = ("The committee met again on Thursday to go over the figures for the new library, and after a long "
             "discussion about the roof, the windows and the reading room, they agreed to ask the town for more "
             "time. Nobody was surprised. ") * 3
BAD = [c for c in CASES if c.code != "audio_too_long" and c.max_s <= 20 and c.key != "pipeline"]
WARM_UP_SHARE = 0.2  # at full concurrency, RSS reaches its plateau within the first 90 s (see the timeline)
KINDS: dict[str, float] = {"tts short": 0.25, "tts long": 0.05, "stt short": 0.22, "stt long": 0.05,
                           "idempotent retry": 0.10, "job": 0.05, "bad input": 0.28}


def long_clip() -> bytes:
    """About 90 s of read speech (the LibriVox clips one after another), as a small opus file."""
    from tests.helpers import decode

    pieces = [decode(path.read_bytes()).samples for path, _ in librivox_clips()]
    audio = np.concatenate([np.concatenate([p, np.zeros(8000, dtype=np.float32)]) for p in pieces * 2])
    return encode_array(audio[: 16000 * 90], "ogg", "libopus")


@dataclass
class Stats:
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unexpected: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    server_errors: int = 0
    jobs: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float, problem: str | None = None, status: int | None = None) -> None:
        with self.lock:
            self.latency[kind].append(seconds)
            if problem:
                self.unexpected[kind].append(problem)
            if status is not None and status >= 500:
                self.server_errors += 1


class Load:
    def __init__(self, server: LiveServer, key: str, stats: Stats, seed: int) -> None:
        self.server = server
        self.key = key
        self.stats = stats
        self.rng = random.Random(seed)
        self.short = librivox_clips()[1][0].read_bytes()
        self.long = long_clip()
        self.http = httpx.Client(base_url=server.root, headers={"authorization": f"Bearer {key}"}, timeout=180)

    def warm_up(self) -> None:
        """Every kind of request once, and every bad input once: what the server then holds is its baseline."""
        for kind in KINDS:
            if kind != "bad input":
                self.one(kind)
        for case in BAD:
            self.one("bad input", case)

    def one(self, kind: str | None = None, case: Case | None = None) -> None:
        kind = kind or self.rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
        started = time.perf_counter()
        try:
            problem, status = self._bad(case) if case is not None else self._run(kind)
        except httpx.HTTPError as exc:
            problem, status = f"{type(exc).__name__}: {exc}", None
        self.stats.record(kind, time.perf_counter() - started, problem, status)

    def _run(self, kind: str) -> tuple[str | None, int | None]:
        h = self.http
        if kind in ("tts short", "tts long"):
            text = "Hello there, this is a short test." if kind == "tts short" else LONG_TEXT
            r = h.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": text,
                                                 "response_format": self.rng.choice(["wav", "mp3", "opus"])})
            return _expect(r, 200), r.status_code
        if kind in ("stt short", "stt long"):
            data = self.short if kind == "stt short" else self.long
            r = h.post("/v1/audio/transcriptions", data={"model": "whisper-1"}, files={"file": ("a.ogg", data)})
            problem = _expect(r, 200) or (None if r.json().get("text", "").strip() else "empty transcript")
            return problem, r.status_code
        if kind == "idempotent retry":
            headers = {"idempotency-key": uuid.uuid4().hex}
            first = h.post("/v1/audio/transcriptions", data={"model": "whisper-1"},
                           files={"file": ("a.wav", self.short)}, headers=headers)
            again = h.post("/v1/audio/transcriptions", data={"model": "whisper-1"},
                           files={"file": ("a.wav", self.short)}, headers=headers)
            problem = _expect(first, 200) or _expect(again, 200)
            if problem is None and (again.headers.get("idempotent-replayed") != "true" or again.json() != first.json()):
                problem = "the retry was not a replay of the first answer"
            return problem, max(first.status_code, again.status_code)
        if kind == "job":
            r = h.post("/v1/audio/transcriptions", data={"model": "whisper-1", "async": "true"},
                       files={"file": ("a.wav", self.short)})
            if r.status_code == 202:
                with self.stats.lock:
                    self.stats.jobs.append(r.json()["id"])
            return _expect(r, 202), r.status_code
        case = self.rng.choice(BAD)
        return self._bad(case)

    def _bad(self, case: Case) -> tuple[str | None, int | None]:
        try:
            return self._bad_request(case)
        except httpx.HTTPError as exc:
            return f"{case.name}: {type(exc).__name__}: {exc}", None

    def _bad_request(self, case: Case) -> tuple[str | None, int | None]:
        args = case.make()
        headers = dict(args.pop("headers", {}))
        if case.key == "user":
            headers["authorization"] = f"Bearer {self.key}"
        elif case.key == "admin":
            headers["authorization"] = f"Bearer {BOOTSTRAP_KEY}"
        elif case.key not in ("none", "revoked"):
            headers["authorization"] = f"Bearer {case.key}"
        with httpx.Client(base_url=self.server.root, timeout=120) as fresh:
            r = fresh.request(case.method, case.path, headers=headers, **args)
        if case.key == "revoked":  # no revoked key here: any key-less 401 will do
            return (None if r.status_code == 401 else f"{case.name}: {r.status_code}"), r.status_code
        ok = r.status_code in case.expect
        return (None if ok else f"{case.name}: {r.status_code} {r.text[:120]}"), r.status_code


def _expect(r: httpx.Response, status: int) -> str | None:
    if r.status_code == status:
        return None
    return f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:160]}"


def _sample(proc: psutil.Process) -> dict[str, float]:
    return {"rss_mb": round(proc.memory_info().rss / 2**20, 1), "fds": proc.num_fds()}


def _percentile(xs: list[float], q: float) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kinds", default="", help="comma-separated kinds to send (default: the whole mix)")
    args = parser.parse_args(argv if argv is not None else [])
    if args.kinds:
        chosen = {k.strip() for k in args.kinds.split(",")}
        for kind in list(KINDS):
            if kind not in chosen:
                del KINDS[kind]
    import tempfile

    data_dir = Path(tempfile.mkdtemp(prefix="voxgate-soak-"))
    server = start_server(data_dir, {**ENV, "VOXGATE_MAX_AUDIO_SECONDS": "600", "VOXGATE_JOB_POLL_S": "0.5"})
    try:
        return _soak(server, args.seconds, args.workers)
    finally:
        stop_server(server)


def _soak(server: LiveServer, seconds: float, workers: int) -> int:
    proc = psutil.Process(server.process.pid)
    with httpx.Client(base_url=server.root, headers={"authorization": f"Bearer {BOOTSTRAP_KEY}"}) as admin:
        key = admin.post("/v1/admin/keys", json={"name": "soak", "credits": 1_000_000, "rpm": 0,
                                                 "concurrency": 0}).json()["key"]
    samples = {"start": _sample(proc)}
    stats = Stats()
    stop = threading.Event()
    health: list[float] = []

    def poll_health() -> None:
        with httpx.Client(base_url=server.root, timeout=10) as http:
            while not stop.is_set():
                started = time.perf_counter()
                http.get("/healthz")
                health.append(time.perf_counter() - started)
                time.sleep(0.2)

    def worker(seed: int) -> None:
        load = Load(server, key, stats, seed)
        while not stop.is_set():
            load.one()

    Load(server, key, Stats(), seed=-1).warm_up()
    threads = [threading.Thread(target=poll_health, daemon=True)]
    threads += [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(workers)]
    started = time.monotonic()
    for t in threads:
        t.start()
    warm_health = 0
    timeline: list[tuple[float, float]] = []
    while time.monotonic() - started < seconds:
        time.sleep(1.0)
        if "after warm-up" not in samples and time.monotonic() - started >= seconds * WARM_UP_SHARE:
            samples["after warm-up"] = _sample(proc)
            warm_health = len(health)
        if not timeline or time.monotonic() - started - timeline[-1][0] >= 30:
            timeline.append((time.monotonic() - started, _sample(proc)["rss_mb"]))
    stop.set()
    for t in threads:
        t.join(240)
    _wait_jobs(server, key, stats)
    time.sleep(2.0)
    samples["end"] = _sample(proc)
    left = [p for p in (server.data_dir / "tmp").rglob("*") if p.is_file()]
    job_inputs = [p for p in (server.data_dir / "jobs").rglob("input")]
    print("RSS timeline (s, MB): " + ", ".join(f"{t:.0f}:{mb:.0f}" for t, mb in timeline))
    return _report(stats, samples, health[warm_health:], left, job_inputs, time.monotonic() - started, workers)


def _wait_jobs(server: LiveServer, key: str, stats: Stats) -> None:
    with httpx.Client(base_url=server.root, headers={"authorization": f"Bearer {key}"}, timeout=30) as http:
        for job_id in stats.jobs:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                status = http.get(f"/v1/jobs/{job_id}").json()["status"]
                if status in ("succeeded", "failed", "cancelled"):
                    if status != "succeeded":
                        stats.record("job", 0.0, f"job {job_id} {status}")
                    break
                time.sleep(0.5)
            else:
                stats.record("job", 0.0, f"job {job_id} did not finish")


def _report(stats: Stats, samples: dict[str, dict[str, float]], health: list[float], left: list[Path],
            job_inputs: list[Path], elapsed: float, workers: int) -> int:
    total = sum(len(v) for v in stats.latency.values())
    unexpected = sum(len(v) for v in stats.unexpected.values())
    print(f"soak: {elapsed:.0f} s, {workers} workers, {total} requests, {unexpected} unexpected, "
          f"{stats.server_errors} 5xx, {len(stats.jobs)} jobs")
    print(f"{'kind':<18}{'requests':>9}{'unexpected':>11}{'p50 s':>8}{'p99 s':>8}")
    for kind in KINDS:
        xs = stats.latency.get(kind, [])
        print(f"{kind:<18}{len(xs):>9}{len(stats.unexpected.get(kind, [])):>11}"
              f"{statistics.median(xs) if xs else 0:>8.2f}{_percentile(xs, 0.99):>8.2f}")
    for kind, problems in stats.unexpected.items():
        for p in problems[:6]:
            print(f"  unexpected ({kind}): {p}")
    h50, h99, hmax = (statistics.median(health) * 1000, _percentile(health, 0.99) * 1000, max(health) * 1000) \
        if health else (0.0, 0.0, 0.0)
    print(f"/healthz while loaded: {len(health)} polls, p50 {h50:.1f} ms, p99 {h99:.1f} ms, max {hmax:.1f} ms")
    print(f"{'':<16}{'RSS MB':>8}{'open fds':>10}")
    for name, sample in samples.items():
        print(f"{name:<16}{sample['rss_mb']:>8.0f}{sample['fds']:>10.0f}")
    growth = samples["end"]["rss_mb"] / samples["after warm-up"]["rss_mb"] - 1
    print(f"RSS growth after warm-up: {growth * 100:+.1f}%; temp files left: {len(left)}; "
          f"job inputs left: {len(job_inputs)}")
    ok = (growth < 0.10 and unexpected == 0 and stats.server_errors == 0 and not left and not job_inputs
          and h99 < 100)
    print(f"targets (growth < 10%, 0 unexpected, 0 5xx, no temp files, /healthz p99 < 100 ms): "
          f"{'met' if ok else 'MISSED'}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "soak.json").write_text(json.dumps({
        "seconds": elapsed, "workers": workers, "requests": total, "unexpected": unexpected,
        "server_errors": stats.server_errors, "jobs": len(stats.jobs), "samples": samples,
        "healthz_ms": {"p50": h50, "p99": h99, "max": hmax}, "rss_growth": growth, "temp_files_left": len(left),
        "by_kind": {k: {"requests": len(v), "unexpected": len(stats.unexpected.get(k, [])),
                        "p50_s": statistics.median(v) if v else 0, "p99_s": _percentile(v, 0.99)}
                    for k, v in stats.latency.items()},
    }, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
