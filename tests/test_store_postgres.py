"""The stores on a real PostgreSQL server (issue 16): the same SQL as SQLite through `translate`, and the same
guarantees when several connection pools (as several replicas would have) race: an idempotency key is claimed
once, credits are never overdrawn, each job is claimed by one owner, a duplicate id is an integrity error."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from voxgate.store.gateway_store import SqliteGatewayStore
from voxgate.store.interfaces import Charge, Claim, InsufficientCredits, JobRecord, Pipeline, PipelineExists, Settlement
from voxgate.store.jobs import SqliteJobStore, new_job_id
from voxgate.store.keys import KeyStore
from voxgate.store.pipelines import SqlitePipelineStore
from voxgate.store.postgres import PostgresDatabase, translate


def test_translate_rewrites_sqlite_spellings() -> None:
    keys = {"credit_holds": ("request_id",), "attempts": ("delivery_id", "attempt")}
    assert translate("SELECT * FROM t WHERE a = ? AND b IS ?", keys) == \
        "SELECT * FROM t WHERE a = %s AND b IS NOT DISTINCT FROM %s"
    upsert = translate("INSERT OR REPLACE INTO credit_holds (request_id, key_id, amount_nano) VALUES (?, ?, ?)", keys)
    assert upsert == ("INSERT INTO credit_holds (request_id, key_id, amount_nano) VALUES (%s, %s, %s) ON CONFLICT "
                      "(request_id) DO UPDATE SET key_id = EXCLUDED.key_id, amount_nano = EXCLUDED.amount_nano")
    assert translate("UPDATE j SET progress = MAX(progress, ?) WHERE id = ?", keys) == \
        "UPDATE j SET progress = GREATEST(progress, %s) WHERE id = %s"
    table = translate("CREATE TABLE IF NOT EXISTS x (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL, b BLOB)", keys)
    assert table == "CREATE TABLE IF NOT EXISTS x (id BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION, b BYTEA)"
    claim = translate("UPDATE q SET owner = ? WHERE id = (SELECT id FROM q WHERE s = 'queued' ORDER BY c LIMIT 1)"
                      " RETURNING *", keys)
    assert claim.endswith("ORDER BY c LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *")
    assert translate("SELECT 'a%'", keys) == "SELECT 'a%%'"
    assert translate("UPDATE k SET c = MAX(-?, MIN(?, COALESCE(c, 0) + ?))", keys) == \
        "UPDATE k SET c = GREATEST(-%s, LEAST(%s, COALESCE(c, 0) + %s))"


@pytest.fixture
def replicas(postgres: Any) -> Iterator[Callable[[], PostgresDatabase]]:
    """Connections to one new database, each with its own pool: what separate replicas would hold."""
    url = postgres.new_database()
    made: list[PostgresDatabase] = []

    def connect() -> PostgresDatabase:
        db = PostgresDatabase(url, pool_size=4)
        made.append(db)
        return db

    yield connect
    for db in made:
        db.close()


def _race(n: int, work: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * n
    start = threading.Barrier(n)

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the race's outcome, asserted by the caller
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_an_idempotency_key_is_claimed_once_across_pools(replicas: Callable[[], PostgresDatabase]) -> None:
    stores = [SqliteGatewayStore(replicas()) for _ in range(4)]
    results = _race(20, lambda i: stores[i % 4].claim("k1", "same-key", "fp", f"req_{i}", ttl_s=60, stale_s=30))
    claims = [r for r in results if isinstance(r, Claim)]
    assert len(claims) == 1, results
    assert all(not isinstance(r, Exception) for r in results), results


def test_credits_are_never_overdrawn(replicas: Callable[[], PostgresDatabase]) -> None:
    db = replicas()
    record, _ = KeyStore(db).create("buyer", credits=1.0)
    key_id = record.id
    stores = [SqliteGatewayStore(replicas()) for _ in range(4)]
    cost = 300_000_000  # 0.3 credits: three holds fit in 1.0, a fourth does not
    results = _race(12, lambda i: stores[i % 4].reserve(key_id, f"req_{i}", cost))
    held = [r for r in results if r == cost]
    refused = [r for r in results if isinstance(r, InsufficientCredits)]
    assert len(held) == 3 and len(refused) == 9, results
    # a charge settles against the balance exactly once
    store = stores[0]
    charge = Charge(key_id=key_id, request_id="req_0", model="m", unit="seconds", units=3, credits_nano=cost)
    store.settle(Settlement(request_id="req_0", charge=charge, hold=True))
    balance, spent = store.balance(key_id)
    assert spent == cost and balance == 1_000_000_000 - cost


def test_each_job_is_claimed_by_one_owner(replicas: Callable[[], PostgresDatabase]) -> None:
    first = SqliteJobStore(replicas())
    ids = set()
    for _ in range(30):
        job_id = new_job_id()
        first.create(JobRecord(id=job_id, key_id="k", status="queued", task="transcribe", model="whisper-base",
                               response_format="json", words=False, request="{}", input_path="/nowhere",
                               filename="a.wav", input_bytes=10, request_id="req_x"))
        ids.add(job_id)
    stores = [SqliteJobStore(replicas()) for _ in range(3)]
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        while (job := stores[i % 3].claim(f"owner-{i}", lease_s=60)) is not None:
            with lock:
                claimed.append((job.id, f"owner-{i}"))

    _race(6, worker)
    assert sorted(j for j, _ in claimed) == sorted(ids)  # every job once, none twice
    assert first.count_by_status() == {"running": 30}


def test_a_duplicate_pipeline_is_an_integrity_error(replicas: Callable[[], PostgresDatabase]) -> None:
    store = SqlitePipelineStore(replicas())
    pipeline = Pipeline(id="assistant", stt_model="whisper-base", llm_model="smollm2-135m", tts_model="tts-1",
                        voice="alloy", system_prompt="", language=None, max_reply_tokens=60, created_at=1.0,
                        updated_at=1.0)
    store.create(pipeline)
    with pytest.raises(PipelineExists):
        store.create(pipeline)
    assert [p.id for p in store.list_all()] == ["assistant"]
