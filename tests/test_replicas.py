"""Several voxgate replicas on one PostgreSQL and one Redis (issue 16), real servers all: the gateway's promises
hold across them. 20 concurrent identical idempotent requests spread over the replicas run one inference and
write one ledger row; a key's rate limit is one limit; a job whose replica is SIGKILLed mid-run completes on
another, charged once; every replica's webhook sender runs and each event is delivered once."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.db import query
from tests.helpers import librivox_clips, long_speech_wav, wer
from tests.test_gateway import inferences, new_key
from tests.test_webhooks import Receiver

REPLICAS = 2


@pytest.fixture(scope="module")
def cluster(postgres: Any, redis_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[LiveServer]]:
    shared = tmp_path_factory.mktemp("shared")
    env = {"VOXGATE_DATABASE_URL": postgres.new_database(), "VOXGATE_REDIS_URL": redis_server.new_url(),
           "VOXGATE_SHARED_DIR": str(shared), "VOXGATE_JOB_LEASE_S": "4", "VOXGATE_JOB_POLL_S": "0.2",
           "VOXGATE_WEBHOOK_ALLOW_PRIVATE": "true", "VOXGATE_WEBHOOK_RETRY_BASE_S": "0.2"}
    replicas: list[LiveServer] = []
    try:
        for i in range(REPLICAS):
            replicas.append(start_server(tmp_path_factory.mktemp(f"replica{i}"), env))
        yield replicas
    finally:
        for live in replicas:
            if live.process.poll() is None:
                stop_server(live)


def _speech(server: LiveServer, key: str, text: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/audio/speech", timeout=120, headers={"Authorization": f"Bearer {key}",
                      **headers}, json={"model": "tts-1", "voice": "alloy", "input": text, "response_format": "wav"})


def test_idempotent_requests_run_once_across_replicas(cluster: list[LiveServer]) -> None:
    key_id, key = new_key(cluster[0])
    text = "Twenty identical requests, spread over every replica, run exactly once. " * 3
    headers = {"Idempotency-Key": f"replicas-{uuid.uuid4().hex}"}
    before = [sum(inferences(s).values()) for s in cluster]
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda i: _speech(cluster[i % REPLICAS], key, text, headers), range(20)))
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 409} and 200 in statuses, statuses
    bodies = {a.content for a in answers if a.status_code == 200}
    assert len(bodies) == 1  # the one result, replayed byte for byte
    for a in answers:
        if a.status_code == 409:
            assert a.json()["error"]["code"] == "idempotency_in_progress"
    # every 409 retried now gets the stored result, from any replica
    for server in cluster:
        again = _speech(server, key, text, headers)
        assert again.status_code == 200 and again.content in bodies
        assert again.headers["idempotent-replayed"] == "true"
    after = [sum(inferences(s).values()) for s in cluster]
    assert sum(after) - sum(before) == 1, (before, after)
    rows = query(cluster[0], "SELECT * FROM ledger WHERE key_id = ?", (key_id,))
    assert len(rows) == 1 and rows[0]["units"] == len(text), rows


def test_a_rate_limit_is_one_limit_over_all_replicas(cluster: list[LiveServer]) -> None:
    _, key = new_key(cluster[0], rpm=6)
    codes = []
    for i in range(14):  # alternating replicas, faster than the bucket refills (one token per 10 s)
        r = httpx.get(f"{cluster[i % REPLICAS].base_url}/models", headers={"Authorization": f"Bearer {key}"})
        codes.append(r.status_code)
        if r.status_code == 429:
            assert r.json()["error"]["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
    assert codes.count(200) in (6, 7) and codes.count(429) == 14 - codes.count(200), codes
    assert set(codes[7:]) == {429}  # once the one bucket is empty, both replicas refuse


def test_concurrency_is_one_count_over_all_replicas(cluster: list[LiveServer]) -> None:
    _, key = new_key(cluster[0], concurrency=1)
    text = "One request at a time for this key, wherever it lands. " * 6
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda i: _speech(cluster[i], key, text, {}), range(2)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 429], codes
    assert _speech(cluster[1], key, "Free again.", {}).status_code == 200  # the slot was released


def test_a_job_survives_its_replica_being_killed(cluster: list[LiveServer]) -> None:
    key_id, key = new_key(cluster[0])
    auth = {"Authorization": f"Bearer {key}"}
    receiver = Receiver(lambda n: 200)
    try:
        r = httpx.post(f"{cluster[0].base_url}/audio/transcriptions", headers=auth,
                       files={"file": ("long.wav", long_speech_wav(), "audio/wav")},
                       data={"model": "whisper-1", "async": "true", "webhook_url": receiver.url}, timeout=60)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        deadline = time.monotonic() + 60
        while not (owner := query(cluster[0], "SELECT owner FROM transcription_jobs WHERE id = ?",
                                  (job_id,))[0]["owner"]):  # whichever replica's runner claims it first
            assert time.monotonic() < deadline
            time.sleep(0.05)
        (doomed,) = [s for s in cluster if f":{s.process.pid}:" in owner]
        survivor = next(s for s in cluster if s is not doomed)
        assert httpx.get(f"{survivor.base_url}/jobs/{job_id}", headers=auth).json()["status"] == "running"
        os.kill(doomed.process.pid, signal.SIGKILL)
        doomed.process.wait(10)
        deadline = time.monotonic() + 240
        while (job := httpx.get(f"{survivor.base_url}/jobs/{job_id}", headers=auth).json())["status"] not in (
                "succeeded", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.3)
        assert job["status"] == "succeeded", job
        row = query(survivor, "SELECT attempts FROM transcription_jobs WHERE id = ?", (job_id,))[0]
        assert row["attempts"] == 2  # the killed replica's attempt, then the survivor's
        result = httpx.get(f"{survivor.base_url}/jobs/{job_id}/result", headers=auth).json()
        reference = " ".join(text for _, text in librivox_clips())
        assert wer(reference, result["text"][:len(reference) + 80]) < 0.5  # the first minute's words are there
        charged = query(survivor, "SELECT * FROM ledger WHERE key_id = ?", (key_id,))
        assert len(charged) == 1 and 50 <= charged[0]["units"] <= 55, charged  # 53 s of audio, billed once
        # the survivor's sender delivered the job's end once (the dead replica never got to it)
        calls = receiver.wait_for(1, timeout=60)
        time.sleep(2)  # a second delivery, if any replica were to send one, would have arrived by now
        events = [json.loads(body) for _, body in receiver.calls]
        ends = [e for e in events if e.get("data", {}).get("id") == job_id]
        assert len(ends) == 1 and len(calls) == len(receiver.calls), events
    finally:
        receiver.close()


def test_every_replica_sends_webhooks_and_each_event_arrives_once(cluster: list[LiveServer],
                                                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    for i, server in enumerate(cluster):  # the replica killed above comes back, on the same database
        if server.process.poll() is not None:
            cluster[i] = start_server(tmp_path_factory.mktemp(f"replica{i}-again"), {
                k: v for k, v in server.env.items() if k.startswith("VOXGATE_") and k not in (
                    "VOXGATE_PORT", "VOXGATE_DATA_DIR")})
    live = cluster
    _, key = new_key(live[0])
    receiver = Receiver(lambda n: 200)
    clip, _ = librivox_clips()[1]
    try:
        jobs = []
        for i in range(6):
            r = httpx.post(f"{live[i % len(live)].base_url}/audio/transcriptions",
                           headers={"Authorization": f"Bearer {key}"},
                           files={"file": ("a.wav", Path(clip).read_bytes(), "audio/wav")},
                           data={"model": "whisper-tiny.en", "async": "true", "webhook_url": receiver.url})
            assert r.status_code == 202, r.text
            jobs.append(r.json()["id"])
        receiver.wait_for(len(jobs), timeout=120)
        time.sleep(2)
        delivered = [json.loads(body)["data"]["id"] for _, body in receiver.calls]
        assert sorted(delivered) == sorted(jobs), delivered  # each job's event once, none twice
    finally:
        receiver.close()
