"""The bad-input corpus (tests/corpus.py) against a live server with small limits: every case gets one of its
allowed statuses, in the error envelope when refused, quickly, and /healthz answers at once after it. At the
end: no unhandled error in the log, no temp file left, nothing billed beyond the caps, and nothing billed for
a refusal.

Also the checks that need more than one request: slow uploads do not use up their key's concurrency slots,
and a key without the credits for an upload's declared duration is refused before anything is decoded."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.corpus import AUDIO_LIMIT_S, CASES, ENV, RAW_CASES, SPEECH, TRANSCRIBE, Case, RawCase, envelope, wav
from tests.helpers import decode

HEALTH_S = 1.0


@dataclass
class Corpus:
    server: LiveServer
    keys: dict[str, str]
    user_id: str
    answered: list[tuple[str, str, int, float]] = field(default_factory=list)  # (name, path, status, seconds)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    live = start_server(tmp_path_factory.mktemp("corpus"), dict(ENV))
    try:
        with live.http() as http:
            user = http.post("/v1/admin/keys", json={"name": "corpus", "credits": 50.0, "rpm": 0}).json()
            pipeline = http.post("/v1/admin/keys", json={"name": "pipe", "pipeline": "whisper-1"}).json()
            revoked = http.post("/v1/admin/keys", json={"name": "gone"}).json()
            assert http.post(f"/v1/admin/keys/{revoked['id']}/revoke").status_code == 200
        keys = {"user": user["key"], "admin": live.key, "pipeline": pipeline["key"], "revoked": revoked["key"]}
        yield Corpus(live, keys, user["id"])
    finally:
        stop_server(live)


def _healthy(server: LiveServer) -> None:
    started = time.perf_counter()
    assert httpx.get(f"{server.root}/healthz", timeout=5).status_code == 200
    assert time.perf_counter() - started < HEALTH_S


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_case(corpus: Corpus, case: Case) -> None:
    args = case.make()
    headers: dict[str, str] = dict(args.pop("headers", {}))
    key = corpus.keys.get(case.key, case.key)
    if case.key != "none":
        headers.setdefault("authorization", f"Bearer {key}")
    with httpx.Client(base_url=corpus.server.root, timeout=60) as http:
        started = time.perf_counter()
        response = http.request(case.method, case.path, headers=headers, **args)
        elapsed = time.perf_counter() - started
    status = response.status_code
    corpus.answered.append((case.name, case.path, status, elapsed))
    assert status < 500, (case.name, status, response.text[:300])
    assert status in case.expect, (case.name, status, response.text[:300])
    if status >= 400:
        error = envelope(response.content)
        assert error is not None, (case.name, response.text[:300])
        if case.code is not None:
            assert error["code"] == case.code, (case.name, error)
    elif case.path == SPEECH:
        assert decode(response.content).duration > 0.2
    elif case.path == TRANSCRIBE:
        assert "text" in response.json()
    assert elapsed < case.max_s, f"{case.name}: {elapsed:.1f} s"
    _healthy(corpus.server)


def _read_answer(sock: socket.socket, deadline: float) -> tuple[bytes, bool]:
    """(what the server sent, whether it closed the connection before `deadline`)."""
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data, False
        except OSError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


@pytest.mark.parametrize("case", RAW_CASES, ids=[c.name for c in RAW_CASES])
def test_raw_corpus_case(corpus: Corpus, case: RawCase) -> None:
    port = int(corpus.server.root.rsplit(":", 1)[1])
    started = time.monotonic()
    deadline = started + case.closed_within_s
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            for chunk in case.chunks:
                sock.sendall(chunk.replace(b"{key}", corpus.keys["user"].encode()))
                if case.pause_s:
                    time.sleep(case.pause_s)
        except OSError:
            pass  # the server closed the connection while we were still sending: what a deadline does
        data, closed = _read_answer(sock, deadline)
    elapsed = time.monotonic() - started
    if case.expect is None:
        assert closed, f"{case.name}: the connection was still open after {elapsed:.1f} s"
    else:
        assert data.startswith(b"HTTP/1."), (case.name, data[:200])
        status = int(data.split(b" ", 2)[1])
        assert status == case.expect, (case.name, data[:300])
        if status >= 400:
            assert envelope(data.partition(b"\r\n\r\n")[2]) is not None, (case.name, data[:300])
    corpus.answered.append((case.name, "raw", case.expect or 0, elapsed))
    _healthy(corpus.server)


def test_slow_uploads_do_not_hold_their_keys_concurrency_slots(corpus: Corpus) -> None:
    """A key with 2 slots and 3 uploads trickling in (above the minimum rate, below any deadline): its other
    requests still run, because a slot is taken once an upload's body has arrived."""
    with httpx.Client(base_url=corpus.server.root, headers={"authorization": f"Bearer {corpus.keys['admin']}"}) as h:
        key = h.post("/v1/admin/keys", json={"name": "slots", "concurrency": 2, "rpm": 0}).json()["key"]
    port = int(corpus.server.root.rsplit(":", 1)[1])
    stop = threading.Event()

    def trickle() -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer "
                         + key.encode() + b"\r\ncontent-type: multipart/form-data; boundary=b\r\n"
                         b"content-length: 1000000\r\n\r\n--b\r\n")
            while not stop.is_set():
                sock.sendall(b"x" * 2048)  # 8 KB/s: slow, and above the 1 KB/s minimum
                time.sleep(0.25)

    threads = [threading.Thread(target=trickle, daemon=True) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        with httpx.Client(base_url=corpus.server.root, headers={"authorization": f"Bearer {key}"}) as http:
            for _ in range(3):
                assert http.get("/v1/models").status_code == 200
    finally:
        stop.set()


def test_a_key_without_credits_for_the_declared_audio_is_refused_before_decoding(corpus: Corpus) -> None:
    """whisper-1 costs 0.0001 credits a second: 0.0005 credits pay for 5 s, and a WAV declaring 12 s is a 402
    from its header, before any decoding (as a job, it fails the same way); a 3 s one is transcribed and billed
    its 3 s."""
    with httpx.Client(base_url=corpus.server.root, headers={"authorization": f"Bearer {corpus.keys['admin']}"}) as h:
        made = h.post("/v1/admin/keys", json={"name": "poor", "credits": 0.0005, "rpm": 0}).json()
    with httpx.Client(base_url=corpus.server.root, headers={"authorization": f"Bearer {made['key']}"},
                      timeout=60) as http:
        long_one = http.post(TRANSCRIBE, data={"model": "whisper-1"}, files={"file": ("a.wav", wav(8000, 8000 * 12))})
        assert long_one.status_code == 402, long_one.text
        error = long_one.json()["error"]
        assert error["code"] == "insufficient_credits" and "12 s" in error["message"]
        job = http.post(TRANSCRIBE, data={"model": "whisper-1", "async": "true"},
                        files={"file": ("a.wav", wav(8000, 8000 * 12))}).json()
        deadline = time.monotonic() + 60
        while (job := http.get(f"/v1/jobs/{job['id']}").json())["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert job["status"] == "failed" and job["error"]["code"] == "insufficient_credits", job
        short = http.post(TRANSCRIBE, data={"model": "whisper-1"}, files={"file": ("a.wav", wav(8000, 8000 * 3))})
        assert short.status_code == 200, short.text
        assert float(short.headers["x-credits-used"]) == pytest.approx(0.0003)
        assert http.get("/v1/credits").json()["balance"] == pytest.approx(0.0002)  # and no hold is left behind


def test_the_corpus_left_the_server_clean(corpus: Corpus) -> None:
    """Runs after the cases above (file order): what they did to the server as a whole."""
    assert len(corpus.answered) >= len(CASES) + len(RAW_CASES), "run the whole module"
    log = corpus.server.log()
    assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]
    leftovers = [p for p in (corpus.server.data_dir / "tmp").rglob("*") if p.is_file()]
    assert leftovers == []
    with httpx.Client(base_url=corpus.server.root, headers={"authorization": f"Bearer {corpus.keys['user']}"}) as h:
        usage: dict[str, Any] = h.get("/v1/usage").json()
    transcribed = sum(1 for _, path, status, _ in corpus.answered if path == TRANSCRIBE and status == 200)
    spoken = sum(1 for _, path, status, _ in corpus.answered if path == SPEECH and status == 200)
    billed = {m["unit"]: m for m in usage["by_model"]}
    seconds = billed.get("seconds", {"requests": 0, "units": 0})
    assert seconds["requests"] == transcribed and seconds["units"] <= AUDIO_LIMIT_S * transcribed
    assert billed.get("characters", {"requests": 0})["requests"] == spoken
