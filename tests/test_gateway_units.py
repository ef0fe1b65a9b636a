"""Gateway building blocks without a server: the SQLite store's claims (threads and processes racing
on one file), settlement, credit holds; request fingerprints; the token bucket."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from voxgate.gateway.fingerprint import read_body
from voxgate.gateway.ratelimit import InMemoryRateLimiter, go_duration
from voxgate.store.db import Database
from voxgate.store.gateway_store import SqliteGatewayStore
from voxgate.store.interfaces import Charge, Claim, IdempotencyRecord, InsufficientCredits, Settlement, StoredResponse
from voxgate.store.keys import KeyStore


def store_at(path: Path) -> SqliteGatewayStore:
    return SqliteGatewayStore(Database(path / "voxgate.sqlite3"))


def test_claim_complete_replay_and_release(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    claim = store.claim("k1", "abc", "fp1", "req_1", ttl_s=60, stale_s=30)
    assert isinstance(claim, Claim)
    held = store.claim("k1", "abc", "fp1", "req_2", ttl_s=60, stale_s=30)
    assert isinstance(held, IdempotencyRecord) and held.state == "running" and held.request_id == "req_1"
    assert isinstance(store.claim("k2", "abc", "fp1", "req_3", ttl_s=60, stale_s=30), Claim), "keys are per API key"
    response = StoredResponse(200, [("content-type", "audio/mpeg")], b"\x00\xffID3", "piper-joe")
    store.settle(Settlement("req_1", claim=claim, response=response))
    done = store.peek("k1", "abc")
    assert done is not None and done.state == "done" and done.response == response
    # a released claim (5xx, 429) is gone: the next request claims it again
    other = store.claim("k1", "xyz", "fp", "req_4", ttl_s=60, stale_s=30)
    assert isinstance(other, Claim)
    store.settle(Settlement("req_4", claim=other, response=None))
    assert store.peek("k1", "xyz") is None


def test_abandoned_claim_is_taken_over_and_expired_records_purged(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    first = store.claim("k", "a", "fp", "req_1", ttl_s=60, stale_s=30)
    assert isinstance(first, Claim)
    time.sleep(0.05)
    second = store.claim("k", "a", "fp", "req_2", ttl_s=60, stale_s=0.01)  # no heartbeat: owner is dead
    assert isinstance(second, Claim) and second.owner != first.owner
    store.settle(Settlement("req_1", claim=first, response=StoredResponse(200, [], b"late")))
    record = store.peek("k", "a")
    assert record is not None and record.state == "running", "the dead owner's late answer is not stored"
    assert isinstance(store.claim("k", "short", "fp", "r", ttl_s=0.01, stale_s=30), Claim)
    time.sleep(0.05)
    assert store.peek("k", "short") is None and store.purge_expired() >= 1


def _race(path: str, n: int) -> int:
    store = SqliteGatewayStore(Database(Path(path)))
    return int(isinstance(store.claim("k", "race", "fp", f"req_{n}", 60, 30), Claim))


def test_one_claim_wins_across_threads_and_processes(tmp_path: Path) -> None:
    db_path = tmp_path / "voxgate.sqlite3"
    Database(db_path)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        wins = pool.starmap(_race, [(str(db_path), i) for i in range(8)])
    assert sum(wins) == 1
    store = SqliteGatewayStore(Database(db_path))
    with ThreadPoolExecutor(8) as threads:
        results = list(threads.map(lambda i: store.claim("k", "race2", "fp", f"r{i}", 60, 30), range(16)))
    assert sum(isinstance(r, Claim) for r in results) == 1


def test_holds_ledger_and_debit_settle_together(tmp_path: Path) -> None:
    db = Database(tmp_path / "voxgate.sqlite3")
    store = SqliteGatewayStore(db)
    record, _ = KeyStore(db).create("c", credits=0.001)
    assert store.reserve(record.id, "req_a", 600_000) == 600_000
    assert store.reserve(record.id, "req_a", 700_000) == 700_000  # a request's new hold replaces its old one
    assert store.reserve(record.id, "req_a", 600_000) == 600_000
    with pytest.raises(InsufficientCredits) as err:
        store.reserve(record.id, "req_b", 600_000)  # 0.0006 is held by req_a
    assert err.value.held_nano == 600_000
    assert store.reserve(record.id, "req_b", 600_000, minimum_nano=300_000) == 400_000  # what is left, up to the cost
    with pytest.raises(InsufficientCredits):
        store.reserve(record.id, "req_e", 600_000, minimum_nano=1)  # nothing is left
    store.release_hold("req_b")
    assert store.reserve("key_without_balance", "req_c", 10**12) is None
    claim = store.claim(record.id, "i", "fp", "req_a", 60, 30)
    assert isinstance(claim, Claim)
    charge = Charge(record.id, "req_a", "piper-joe", "characters", 40, 600_000, "i")
    store.settle(Settlement("req_a", claim=claim, response=StoredResponse(200, [], b"ok"), charge=charge, hold=True))
    balance, spent = store.balance(record.id)
    assert (balance, spent) == (400_000, 600_000)
    assert store.reserve(record.id, "req_d", 400_000) == 400_000  # the hold is gone, the balance debited
    [row] = store.usage(record.id, "2000-01-01", "2999-12-31")
    assert (row.model, row.requests, row.units, row.credits_nano) == ("piper-joe", 1, 40, 600_000)


def _digest(files: dict[str, tuple[str, bytes]] | None, data: dict[str, str] | None = None,
            json_body: object = None, chunk: int = 7) -> str:
    request = httpx.Request("POST", "http://x/", files=files, data=data, json=json_body)
    body = request.read()
    chunks = [body[i:i + chunk] for i in range(0, len(body), chunk)] or [b""]
    feed = iter(enumerate(chunks))

    async def receive() -> dict[str, object]:
        i, part = next(feed)
        return {"type": "http.request", "body": part, "more_body": i < len(chunks) - 1}

    async def run() -> str:
        buffered = await read_body(receive, {"content-type": request.headers["content-type"]}, 1 << 30)
        replayed = b""
        rx = buffered.receive(receive)
        while True:
            message = await rx()
            replayed += message["body"]  # type: ignore[operator]
            if not message["more_body"]:
                break
        assert replayed == body, "the application sees the exact bytes"
        return buffered.digest

    return asyncio.run(run())


def test_fingerprint_ignores_boundary_order_and_filename_but_not_content() -> None:
    audio = bytes(range(256)) * 50
    base = _digest({"file": ("a.wav", audio)}, {"model": "whisper-1", "language": "en"})
    assert base == _digest({"file": ("upload", audio)}, {"language": "en", "model": "whisper-1"}, chunk=4096)
    assert base != _digest({"file": ("a.wav", audio[:-1] + b"\x01")}, {"model": "whisper-1", "language": "en"})
    assert base != _digest({"file": ("a.wav", audio)}, {"model": "whisper-1", "language": "fr"})
    text = "RIFF" * 64
    as_file = _digest({"file": ("a.wav", text.encode())}, {"model": "whisper-1"})
    as_text = _digest({"file": (None, text.encode())}, {"model": "whisper-1"})  # type: ignore[dict-item]
    assert as_text != as_file, "the same bytes as a text field and as a file part are different requests"
    assert _digest(None, json_body={"a": 1, "b": [1, 2]}) == _digest(None, json_body={"b": [1, 2], "a": 1})
    assert _digest(None, json_body={"a": 1}) != _digest(None, json_body={"a": 2})


def test_token_bucket_and_concurrency() -> None:
    limiter = InMemoryRateLimiter()
    decisions = [limiter.admit("k", 3, None) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[2].remaining == 0 and 19 < decisions[3].retry_after_s <= 20.01  # 60 s / 3 per token
    assert decisions[3].retry_headers()["retry-after"] == "20"
    assert limiter.admit("c", None, 2).allowed and limiter.admit("c", None, 2).allowed
    refused = limiter.admit("c", None, 2)
    assert not refused.allowed and refused.reason == "concurrency"
    limiter.release("c")
    assert limiter.admit("c", None, 2).allowed
    assert (go_duration(0.25), go_duration(1.5), go_duration(360)) == ("250ms", "1.5s", "6m0s")
