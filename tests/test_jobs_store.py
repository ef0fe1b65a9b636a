"""The job queue's guarantees without a server: a job is claimed by exactly one owner, a dead owner's
job goes back to the queue, and an owner that lost its job can no longer finish or charge it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from voxgate.store.db import Database
from voxgate.store.interfaces import JobRecord, QueueFull
from voxgate.store.jobs import SqliteJobStore as JobStore
from voxgate.store.jobs import new_job_id, new_owner, owner_is_dead
from voxgate.transcript import Segment, Transcript, Word, dump_transcript, load_transcript


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(Database(tmp_path / "jobs.sqlite3"))


def add_job(store: JobStore, key_id: str = "key_a") -> str:
    job_id = new_job_id()
    store.create(JobRecord(id=job_id, key_id=key_id, status="queued", task="transcribe", model="whisper-base",
                           response_format="json", words=False, request="{}", input_path="/nowhere",
                           filename="a.wav", input_bytes=10, request_id="req_x"))
    return job_id


def dead_owner() -> str:
    """The owner string of a process on this host that has exited."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    host = new_owner().split(":")[0]
    return f"{host}:{proc.pid}:deadbeef"


def test_each_job_is_claimed_exactly_once(tmp_path: Path) -> None:
    db_path = tmp_path / "jobs.sqlite3"
    store = JobStore(Database(db_path))
    ids = {add_job(store) for _ in range(40)}
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        mine = JobStore(Database(db_path))  # own connection, as another thread or process would have
        owner = f"worker-{n}"
        while (job := mine.claim(owner, lease_s=60)) is not None:
            with lock:
                claimed.append((job.id, owner))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(j for j, _ in claimed) == sorted(ids)
    assert all(store.get(j).status == "running" and store.get(j).attempts == 1 for j in ids)  # type: ignore[union-attr]


def test_a_dead_owners_job_is_requeued_and_the_old_owner_is_locked_out(store: JobStore) -> None:
    job_id = add_job(store)
    ghost = dead_owner()
    assert owner_is_dead(ghost, new_owner())
    assert store.claim(ghost, lease_s=3600) is not None
    me = new_owner()
    assert store.recover(me, max_attempts=3) == [(store.get(job_id), "requeued")]
    job = store.get(job_id)
    assert job is not None and job.status == "queued" and job.owner is None
    claimed = store.claim(me, lease_s=60)
    assert claimed is not None and claimed.id == job_id and claimed.attempts == 2
    assert store.heartbeat(job_id, ghost, 60) is False
    assert store.succeed(job_id, ghost, "{}", 1.0, 1) is None  # the old owner cannot complete (or charge) it
    assert store.succeed(job_id, me, "{}", 1.0, 1) is not None


def test_a_live_owner_keeps_its_job_until_the_lease_runs_out(store: JobStore) -> None:
    job_id = add_job(store)
    other_host = "elsewhere:1234:abcd"  # unknown host: only the lease can tell it is gone
    store.claim(other_host, lease_s=0.3)
    assert store.recover(new_owner(), max_attempts=3) == []
    time.sleep(0.4)
    assert [outcome for _, outcome in store.recover(new_owner(), max_attempts=3)] == ["requeued"]
    assert store.get(job_id).status == "queued"  # type: ignore[union-attr]


def test_this_process_is_alive_and_its_previous_life_is_not() -> None:
    me = new_owner()
    host, pid, _ = me.split(":")
    assert not owner_is_dead(me, me)
    assert owner_is_dead(f"{host}:{pid}:0ldl1fe0", me)  # our pid, another token: a previous process
    assert not owner_is_dead(f"{host}:{os.getppid()}:abcd", me)  # a running process


def test_a_job_that_keeps_killing_servers_fails(store: JobStore) -> None:
    job_id = add_job(store)
    for attempt in range(1, 4):
        assert store.claim(dead_owner(), lease_s=3600) is not None
        outcome = store.recover(new_owner(), max_attempts=3)[0][1]
        assert outcome == ("failed" if attempt == 3 else "requeued")
    job = store.get(job_id)
    assert job is not None and job.status == "failed" and job.error and job.error["code"] == "job_interrupted"


def test_cancel_queued_and_running_jobs(store: JobStore) -> None:
    running, queued = add_job(store), add_job(store)
    owner = new_owner()
    assert store.claim(owner, 60).id == running  # type: ignore[union-attr]
    assert store.cancel(queued, "key_a").status == "cancelled"  # type: ignore[union-attr]
    assert store.cancel(running, "key_other") is None  # another key's job does not exist for it
    job = store.cancel(running, "key_a")
    assert job is not None and job.status == "running" and job.cancel_requested
    assert store.heartbeat(running, owner, 60) is None  # the runner learns of the cancel here
    assert store.finish(running, owner, "cancelled", None).status == "cancelled"  # type: ignore[union-attr]


def test_jobs_are_listed_per_key(store: JobStore) -> None:
    mine = [add_job(store, "key_a") for _ in range(3)]
    add_job(store, "key_b")
    assert [j.id for j in store.list_for_key("key_a")] == list(reversed(mine))
    assert store.get(mine[0], "key_b") is None and store.get(mine[0], "key_a") is not None


def test_a_key_may_queue_only_so_many_jobs_and_bytes(store: JobStore) -> None:
    def job(key_id: str, size: int) -> JobRecord:
        return JobRecord(id=new_job_id(), key_id=key_id, status="queued", task="transcribe", model="whisper-base",
                         response_format="json", words=False, request="{}", input_path="/nowhere", input_bytes=size)

    for _ in range(3):
        store.create(job("key_a", 10), max_queued=3)
    with pytest.raises(QueueFull):
        store.create(job("key_a", 10), max_queued=3)
    store.create(job("key_b", 10), max_queued=3)  # another key's queue is its own
    with pytest.raises(QueueFull):
        store.create(job("key_b", 1000), max_queued=3, max_queued_bytes=500)
    owner = new_owner()
    first = store.claim(owner, 60)
    assert first is not None and store.finish(first.id, owner, "failed", None) is not None
    store.create(job(first.key_id, 10), max_queued=3)  # a finished job frees its place


def test_finished_jobs_are_purged_after_their_retention(store: JobStore) -> None:
    old, running, queued = add_job(store), add_job(store), add_job(store)
    owner = new_owner()
    assert store.claim(owner, 60).id == old  # type: ignore[union-attr]
    store.finish(old, owner, "failed", None)
    assert store.claim(owner, 60).id == running  # type: ignore[union-attr]
    assert store.purge_finished(time.time() - 60) == []  # ended just now: kept
    assert store.purge_finished(time.time() + 1) == [old]  # only ended jobs go
    assert store.get(old) is None and store.get(running) is not None and store.get(queued) is not None


def test_transcript_round_trip() -> None:
    transcript = Transcript(task="transcribe", language="en", duration=3.2, segments=[
        Segment(id=0, start=0.0, end=1.5, text=" Hello there.", tokens=[1, 2], avg_logprob=-0.2, speaker="A",
                words=[Word("Hello", 0.0, 0.5, 0.9, "A"), Word("there.", 0.6, 1.5, 0.8, "A")]),
        Segment(id=1, start=1.6, end=3.0, text=" Bye.", speaker="B"),
    ], language_probability=0.97)
    assert load_transcript(dump_transcript(transcript)) == transcript


def test_a_job_queued_by_the_previous_schema_still_runs(tmp_path: Path) -> None:
    """Before typed requests, jobs stored raw form fields in a `fields` column: the table is migrated and
    such a job's fields are validated into a TranscriptionRequest when it runs."""
    import json
    import sqlite3

    from voxgate.config import AsrSettings, JobSettings, WebhookSettings
    from voxgate.jobs import JobService
    from voxgate.models.catalog import Catalog
    from voxgate.models.registry import ModelRegistry
    from voxgate.store.deliveries import SqliteDeliveryStore
    from voxgate.store.jobs import SCHEMA
    from voxgate.transcription import TranscriptionService

    db_path = tmp_path / "old.sqlite3"
    with sqlite3.connect(db_path) as conn:
        conn.execute(SCHEMA[0].replace("request TEXT NOT NULL", "fields TEXT NOT NULL"))
        conn.execute("INSERT INTO transcription_jobs (id, key_id, status, task, model, response_format, fields,"
                     " input_path, created_at) VALUES ('job_old', 'k', 'queued', 'transcribe', 'whisper-base', 'srt',"
                     " ?, '/x', 1.0)", (json.dumps({"model": ["whisper-base"], "response_format": ["srt"],
                                                    "timestamp_granularities": ["word"]}),))
    db = Database(db_path)
    store = JobStore(db)
    job = store.get("job_old")
    assert job is not None and json.loads(job.request)["response_format"] == ["srt"]
    catalog = Catalog.load()
    transcription = TranscriptionService(catalog, ModelRegistry(tmp_path / "models"), AsrSettings(), 1, tmp_path)
    service = JobService(JobSettings(workers=0), WebhookSettings(), store, SqliteDeliveryStore(db), transcription,
                         tmp_path / "jobs", tmp_path)
    request = service.request_of(job)
    assert request.model == "whisper-base" and request.response_format == "srt" and request.words
